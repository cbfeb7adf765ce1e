"""Backup and restore of the store's rows, exactly: `python -m app backup` / `restore`.

A backup is a pg_dump archive (custom format) of the rows of every table of the store
(`STORE_TABLES`, schema-qualified) and of the migration history
(`supabase_migrations.schema_migrations`), taken in one snapshot. The schema is not in it: it is
the migrations', and a restore goes into a database built from the same migrations (a new
Supabase project after `supabase db push`, or the local stack after `make db-reset`).

A restore loads the rows as they were, byte for byte: ids, seqs, timestamps, counters, token
sums, the usage ledger and its roll-up mark, prices, settings, erasure records, ratings. So no
trigger may run while they load (the append trigger would renumber seqs, slide expiries, stamp
updated_at and count every row twice into the totals): the load runs with
`session_replication_role = replica`, in one transaction with the TRUNCATE of the store's tables
that precedes it (the settings row and the totals the migrations created are replaced too). That
setting needs a superuser, or Supabase's `postgres` role. pg_cron is left alone: its jobs are
the target database's own, scheduled by its migrations in the database pg_cron runs in; the
backup carries none.

A restore refuses (`BackupError`, nothing changed) an archive that is not such a backup, a
database whose migration history differs from the backup's (apply the same migrations first),
and a database that already holds conversations, messages, turns, ratings, erasures or usage,
unless asked to replace them.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

__all__ = ["MIGRATIONS_TABLE", "STORE_TABLES", "BackupError", "Restored", "backup", "restore"]

# Every table of the store, parents before children. tests/attack/test_backup.py checks it
# against the catalog, so a table a migration adds is not silently left out of backups.
STORE_TABLES = (
    "public.ai_conversation_settings",
    "public.ai_model_prices",
    "public.ai_conversations",
    "public.ai_conversation_messages",
    "public.ai_turns",
    "public.ai_turn_events",
    "public.ai_message_feedback",
    "public.ai_erasures",
    "public.ai_usage_daily",
    "private.usage_rollup",
    "private.conversation_totals",
)
MIGRATIONS_TABLE = "supabase_migrations.schema_migrations"
# The store's own rows, which a restore simply replaces: the settings' row, the roll-up's mark and
# the totals' slots (the migrations fill them) and the operator's prices. Every other table holds
# someone's data: a restore into a database where it has rows is refused without --replace.
_STORE_OWN = frozenset(
    {
        "public.ai_conversation_settings",
        "public.ai_model_prices",
        "private.usage_rollup",
        "private.conversation_totals",
    }
)
_USER_DATA = tuple(t for t in STORE_TABLES if t not in _STORE_OWN)


class BackupError(Exception):
    """A backup or restore was refused or failed; the message says why (and what to do)."""


@dataclass(frozen=True, slots=True)
class Restored:
    """The rows of each table after a restore, and the migration the database is at."""

    rows: dict[str, int]
    migration: str


def _run(argv: Sequence[str], stdin: IO[bytes] | None = None) -> bytes:
    """Run a PostgreSQL client tool; its standard output, or BackupError with its message."""
    try:
        done = subprocess.run(argv, stdin=stdin, capture_output=True, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise BackupError(f"{argv[0]} not found: install the PostgreSQL client tools") from exc
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def backup(url: str, path: Path) -> None:
    """Write the store's rows and the migration history to `path` (pg_dump, custom format)."""
    tables = [f"--table={name}" for name in (*STORE_TABLES, MIGRATIONS_TABLE)]
    _run(["pg_dump", "--format=custom", "--data-only", "--no-owner", "--no-privileges",
          f"--file={path}", *tables, f"--dbname={url}"])  # fmt: skip


def _table_data(toc: str) -> dict[str, str]:
    """The TABLE DATA entries of an archive's table of contents, by schema-qualified name."""
    entries: dict[str, str] = {}
    for line in toc.splitlines():
        words = line.split()
        if not line.startswith(";") and "TABLE DATA" in line and len(words) >= 7:
            # "<id>; <oid> <oid> TABLE DATA <schema> <table> <owner>"
            entries[f"{words[5]}.{words[6]}"] = line
    return entries


def _archived_migrations(path: Path) -> list[str]:
    """The migration versions recorded in the archive (the first column of its COPY block)."""
    schema, table = MIGRATIONS_TABLE.split(".")
    out = _run(["pg_restore", "--data-only", f"--schema={schema}", f"--table={table}", "--file=-", str(path)])
    versions: list[str] = []
    copying = False
    for line in out.decode().splitlines():
        if line.startswith("COPY "):
            copying = True
        elif copying and line == "\\.":
            copying = False
        elif copying:
            versions.append(line.split("\t", 1)[0])
    return sorted(versions)


def _counts(conn: psycopg.Connection[tuple[Any, ...]], tables: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in tables:
        schema, table = name.split(".")
        row = conn.execute(
            sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        ).fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def restore(url: str, path: Path, *, replace: bool = False) -> Restored:
    """Load a backup into the database at `url` (built from the same migrations), exactly; see
    the module's docstring for what is refused."""
    entries = _table_data(_run(["pg_restore", "--list", str(path)]).decode(errors="replace"))
    missing = [name for name in (*STORE_TABLES, MIGRATIONS_TABLE) if name not in entries]
    if missing:
        raise BackupError(f"{path} is not a backup of this store (no rows of {', '.join(missing)})")
    archived = _archived_migrations(path)
    with psycopg.connect(url, autocommit=True) as conn:
        schema, table = MIGRATIONS_TABLE.split(".")
        query = sql.SQL("select version from {}.{} order by 1").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        present = [str(r[0]) for r in conn.execute(query).fetchall()]
        if present != archived:
            raise BackupError(
                f"the backup was taken at migration {archived[-1] if archived else 'none'} "
                f"({len(archived)} applied), this database is at {present[-1] if present else 'none'} "
                f"({len(present)} applied): restore into a database built from the same migrations"
            )
        held = {name: n for name, n in _counts(conn, _USER_DATA).items() if n}
        if held and not replace:
            summary = ", ".join(f"{n} in {name}" for name, n in held.items())
            raise BackupError(
                f"this database already holds rows ({summary}); restore --replace overwrites them"
            )

    with tempfile.NamedTemporaryFile("w", suffix=".list") as listing:
        listing.write("\n".join(line for name, line in entries.items() if name != MIGRATIONS_TABLE) + "\n")
        listing.flush()
        producer = subprocess.Popen(  # noqa: S603
            ["pg_restore", "--data-only", f"--use-list={listing.name}", "--file=-", str(path)],  # noqa: S607
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        truncate = "truncate " + ", ".join(STORE_TABLES)
        try:
            _run(
                ["psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
                 "--command=set session_replication_role = replica", f"--command={truncate}",
                 "--file=-", f"--dbname={url}"],
                stdin=producer.stdout,
            )  # fmt: skip
        finally:
            assert producer.stdout is not None
            producer.stdout.close()
            produced = producer.wait()
        if produced != 0:
            stderr = producer.stderr.read().decode(errors="replace").strip() if producer.stderr else ""
            raise BackupError(f"pg_restore failed: {stderr}")

    with psycopg.connect(url, autocommit=True) as conn:
        for name in STORE_TABLES:  # fresh planner statistics for the rows just loaded
            schema, table = name.split(".")
            conn.execute(sql.SQL("analyze {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
        return Restored(_counts(conn, STORE_TABLES), archived[-1] if archived else "")
