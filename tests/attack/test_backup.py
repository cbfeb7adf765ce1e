"""A backup restores every row of the store exactly (issue 22, item 2).

On a throwaway cluster (on BACKUP_TEST_PORT, or a port free when the test starts: a fixed one
can be taken by any process's ephemeral port; the dev database is never touched): a database
built from the migrations is filled with everything the store keeps (conversations of users and
anonymous ones, messages with token counts, summaries, a clear, a deleted message, a fork,
ratings, a turn, a legal hold, prices, changed settings, a usage roll-up, an erasure, an expired
conversation), backed up with `python -m app backup`, the cluster wiped and built again from the
migrations, the backup restored with `python -m app restore`; then every table's rows must be
equal, to the microsecond and the counter, the pgTAP suite must pass on the restored database,
pg_cron must keep its own jobs, and the store must carry on from where it was (the next seq, the
totals).

Before: the README's `pg_dump --data-only` of two tables restored with `psql -f` ran the
triggers on every row (645 of 655 conversations got updated_at = the restore's time, expiries
slid, token totals doubled, tokens_before shifted), left out ratings, the ledger, prices,
erasures and settings, and could not be restored into a second database of the local cluster.

pg_cron's jobs are paused on the throwaway cluster while the test compares rows: the minutely
usage roll-up would otherwise change the ledger between a snapshot and the backup.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from app.__main__ import main
from app.backup import MIGRATIONS_TABLE, STORE_TABLES, BackupError, restore
from app.config import get_settings
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = int(os.environ.get("BACKUP_TEST_PORT") or _free_port())
URL = f"postgresql://postgres:postgres@127.0.0.1:{PORT}/postgres"
ALICE, BOB, CAROL = (uuid.UUID(f"7f1e0000-0000-4000-8000-0000000bac{n:02x}") for n in (1, 2, 3))

FILL = """
-- A setting the pgTAP suite sets itself when it needs it.
update public.ai_conversation_settings set compaction_threshold_tokens = 3000;
insert into public.ai_model_prices (model, prompt_per_million, completion_per_million)
values ('m-1', 0.15, 0.6), ('m-2', 1.25, 10);
select public.create_conversation('bk-a-' || i, %(alice)s, jsonb_build_object('n', i), 24 + i)
  from generate_series(1, 5) i;
select public.create_conversation('bk-anon', null, '{"source": "widget"}');
select public.create_conversation('bk-bob', %(bob)s);
select public.create_conversation('bk-carol', %(carol)s);
select public.append_message(c, (array['user', 'assistant', 'tool'])[1 + n %% 3], c || ' says ' || n,
                             jsonb_build_object('model', 'm-1', 'tokens',
                                                jsonb_build_object('prompt', n, 'completion', 2 * n)),
                             case when n %% 3 = 0 then c || '-key-' || n end)
  from unnest(array['bk-a-1', 'bk-a-2', 'bk-a-3', 'bk-a-4', 'bk-a-5', 'bk-anon', 'bk-bob', 'bk-carol']) c,
       generate_series(1, 6) n
 order by c, n;
select public.append_summary('bk-a-1', 'the first four, summarized', 1, 4, 'm-1', 12);
select public.clear_conversation('bk-a-2');
select public.append_message('bk-a-2', 'user', 'after the clear');
delete from public.ai_conversation_messages where conversation_id = 'bk-a-3' and seq = 2;
select public.update_conversation('bk-a-1',
                                  '{"title": "A custom title", "tags": ["billing", "vip"], "pinned": true}');
select public.update_conversation('bk-a-4', '{"archived": true, "legal_hold": true}');
select public.fork_conversation('bk-a-1', 3, 'bk-a-1-fork', 'Forked');
select public.set_message_feedback('bk-a-1', 2, 1, 'useful');
-- A turn of the turn engine, begun and finished (a row of ai_turns).
select public.finish_turn((t #>> '{turn,id}')::uuid, '[{"role": "assistant", "content": "an answer"}]')
  from (select public.begin_turn(p_input => '[{"role": "user", "content": "a question"}]',
                                 p_conversation_id => 'bk-bob',
                                 p_idempotency_key => 'bk-turn-1')::jsonb as t) x;
-- Older messages, for the usage roll-up (a direct insert keeps its created_at).
insert into public.ai_conversation_messages (conversation_id, role, content, metadata, created_at)
select 'bk-bob', 'assistant', 'older ' || n, '{"model": "m-2", "tokens": {"prompt": 10, "completion": 20}}',
       now() - make_interval(hours => n)
  from generate_series(2, 5) n;
select private.roll_up_usage();
select public.erase_user_data(%(carol)s);
update public.ai_conversations set expires_at = now() - interval '1 hour' where conversation_id = 'bk-a-5';
"""
# A rating by the owner, as the owner.
RATE_AS_ALICE = """
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims',
                  json_build_object('role', 'authenticated', 'sub', %(alice)s::text)::text, true);
select public.set_message_feedback('bk-a-1', 3, -1);
"""


def stack(*args: str) -> str:
    """scripts/stack.sh on the throwaway cluster."""
    env = {**os.environ, "STACK_PORT": str(PORT), "STACK_NAME": "backup-test"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(  # noqa: S603
        [str(ROOT / "scripts" / "stack.sh"), *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"scripts/stack.sh {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()


def fresh_database() -> None:
    """The throwaway cluster wiped and built again from the migrations, its cron jobs paused."""
    stack("reset")
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("update cron.job set active = false")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    try:
        fresh_database()
        yield URL
    finally:
        directory = stack("datadir")
        stack("down")
        shutil.rmtree(directory, ignore_errors=True)


def snapshot(url: str) -> dict[str, list[Any]]:
    """Every row of every table of the store, as JSON, in a stable order."""
    rows: dict[str, list[Any]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name in STORE_TABLES:
            schema, table = name.split(".")
            query = sql.SQL(
                "select coalesce(jsonb_agg(to_jsonb(t) order by to_jsonb(t)::text), '[]') from {}.{} t"
            )
            row = conn.execute(query.format(sql.Identifier(schema), sql.Identifier(table))).fetchone()
            assert row is not None
            rows[name] = row[0]
    return rows


def cli(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture
def as_cluster(monkeypatch: pytest.MonkeyPatch, cluster: str) -> Iterator[None]:
    """The CLI's DATABASE_URL is the throwaway cluster's (the settings are read again after)."""
    monkeypatch.setenv("DATABASE_URL", cluster)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_backup_covers_every_table_of_the_store(cluster: str) -> None:
    with psycopg.connect(cluster) as conn:
        tables = {
            f"{s}.{t}"
            for s, t in conn.execute(
                "select schemaname, tablename from pg_tables where schemaname in ('public', 'private')"
            ).fetchall()
        }
    assert tables == set(STORE_TABLES)


@pytest.mark.usefixtures("as_cluster")
def test_backup_and_restore_round_trip_every_row(cluster: str, tmp_path: Path) -> None:
    with psycopg.connect(cluster, autocommit=True) as conn:
        # Several statements in one call: values bound client-side.
        psycopg.ClientCursor(conn).execute(FILL, {"alice": ALICE, "bob": BOB, "carol": CAROL})
        with conn.transaction():
            psycopg.ClientCursor(conn).execute(RATE_AS_ALICE, {"alice": ALICE})
    before = snapshot(cluster)
    assert all(before[name] for name in STORE_TABLES), {
        n: len(r) for n, r in before.items()
    }  # every table has rows
    archive = tmp_path / "store.backup"
    assert cli("backup", "-o", str(archive)) == 0

    fresh_database()
    assert snapshot(cluster) != before
    assert cli("restore", str(archive)) == 0
    after = snapshot(cluster)
    for name in STORE_TABLES:
        assert after[name] == before[name], name

    with psycopg.connect(cluster, autocommit=True) as conn:
        # pg_cron keeps the jobs the migrations scheduled, in the database it runs in.
        jobs = conn.execute("select jobname, database from cron.job order by 1").fetchall()
        assert jobs == [
            ("cleanup-expired-conversations", "postgres"),
            ("maintain-turn-streams", "postgres"),
            ("prune-conversation-cron-history", "postgres"),
            ("roll-up-usage", "postgres"),
        ]
        # The store carries on: the next seq after the last ever handed out, totals that agree.
        appended = conn.execute(
            "select public.append_message('bk-a-3', 'user', 'after the restore')"
        ).fetchone()
        assert appended is not None
        assert appended[0]["message"]["seq"] == 7
        stats = conn.execute("select public.conversation_stats()").fetchone()
        counts = conn.execute(
            "select (select count(*) from public.ai_conversations),"
            " (select count(*) from public.ai_conversation_messages)"
        ).fetchone()
        assert stats is not None
        assert counts is not None
        assert (stats[0]["total_conversations"], stats[0]["total_messages"]) == counts

    # Refused, changing nothing: a database that holds conversations (unless --replace), and
    # one whose migration history is not the backup's.
    with pytest.raises(BackupError, match="already holds rows"):
        restore(cluster, archive)
    assert cli("restore", "--replace", str(archive)) == 0
    assert snapshot(cluster) == before
    with psycopg.connect(cluster, autocommit=True) as conn:
        conn.execute(f"insert into {MIGRATIONS_TABLE} (version, name) values ('29991231000000', 'later')")  # noqa: S608
        try:
            with pytest.raises(BackupError, match="same migrations"):
                restore(cluster, archive, replace=True)
        finally:
            conn.execute(f"delete from {MIGRATIONS_TABLE} where version = '29991231000000'")  # noqa: S608
    assert snapshot(cluster) == before

    # The pgTAP suite passes on the restored database (its cron jobs active again, as restored).
    with psycopg.connect(cluster, autocommit=True) as conn:
        conn.execute("update cron.job set active = true")
    env = {**os.environ, "STACK_PORT": str(PORT)}
    env.pop("DATABASE_URL", None)
    suite = subprocess.run(  # noqa: S603
        ["make", "-s", "-C", str(ROOT), "test-db"],  # noqa: S607
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-4000:]
