"""Command line for operators: `python -m app <command>` (also the `conversations` script).

The commands are click commands that the `ConversationsCLI` plugin adds to Litestar's own
CLI group, at the top level, next to Litestar's `run`, `routes` and `schema`. Every command
but `serve` and `token` is one or more store calls as the service, over the transport the configuration
selects (a Supabase project, or DATABASE_URL). JSON goes to stdout; messages and progress
bars to stderr.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import msgspec
from litestar import Litestar
from litestar.plugins import CLIPluginProtocol
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.auth import check_auth_mode
from app.auth.local_tokens import (
    MAX_TTL_SECONDS,
    is_local_secret,
    issuer_for,
    mint_user_token,
    user_token_claims,
)
from app.backup import BackupError, backup, restore
from app.config import get_settings
from app.core import services_of
from app.serving import run_server
from app.store import ConflictError, ConversationManager, StoreError
from app.store.export import open_export
from app.store.factory import open_store
from app.store.models import ConversationExport

__all__ = ["ConversationsCLI", "err"]

err = Console(stderr=True)
_json = msgspec.json.Encoder()


class ConversationsCLI(CLIPluginProtocol):
    """Adds the operator commands to the Litestar CLI (`serve`, `stats`, `cleanup`, `extend`,
    `export`, `import`, `token`, `backup`, `restore`). It touches nothing but the CLI group: the
    app it is registered on serves exactly as without it."""

    __slots__ = ()

    def on_cli_init(self, cli: click.Group) -> None:
        for command in (serve, stats, cleanup, extend, export, import_, token, backup_, restore_):
            cli.add_command(command)


def _progress(total: int | None = None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and total is None,
    )


def _print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.format(_json.encode(value)).decode() + "\n")


StoreCommand = Callable[..., Coroutine[Any, Any, int | None]]


def _with_store(command: StoreCommand) -> Callable[..., None]:
    """Run `command(store, **options)` on a store opened as the service (waiting for the
    database); a store error prints `code: message` and exits 1, a nonzero result exits with it."""

    async def run(options: dict[str, Any]) -> int | None:
        async with open_store(get_settings(), wait=True) as (_, store):
            return await command(store, **options)

    @functools.wraps(command)
    def sync(**options: Any) -> None:
        try:
            code = asyncio.run(run(options))
        except StoreError as exc:
            err.print(f"[red]{exc.code}: {exc.message}")
            code = 1
        if code:
            raise click.exceptions.Exit(code)

    return sync


@click.command()
@click.option("--host", help="address to bind (default API_HOST)")
@click.option("--port", type=int, help="port to bind (default API_PORT; 0: any free port, logged)")
def serve(app: Litestar, host: str | None, port: int | None) -> None:
    """Serve the HTTP API (SIGTERM: graceful, within API_SHUTDOWN_TIMEOUT_SECONDS)."""
    # `app` is the one this CLI was started with (LITESTAR_APP), passed in by Litestar's CLI.
    settings = services_of(app).settings
    host = host or settings.server.host
    try:
        check_auth_mode(settings.server.auth, host)
    except RuntimeError as exc:
        err.print(f"[red]{exc}")
        raise click.exceptions.Exit(2) from exc
    run_server(app, host=host, port=port)


@click.command()
@_with_store
async def stats(store: ConversationManager) -> None:
    """Print conversation statistics."""
    _print_json(await store.stats())


@click.command()
@click.option("--batch-size", type=int, default=None, help="conversations per batch")
@_with_store
async def cleanup(store: ConversationManager, batch_size: int | None) -> None:
    """Delete expired conversations now."""
    removed = await store.cleanup_expired(batch_size)
    _print_json({"removed": removed})


@click.command()
@click.argument("conversation_id", metavar="ID")
@click.option("--hours", type=int, default=24, help="hours to add (default 24)")
@_with_store
async def extend(store: ConversationManager, conversation_id: str, hours: int) -> None:
    """Extend a conversation's lifetime."""
    _print_json(await store.extend_ttl(conversation_id, hours))


async def _all_ids(store: ConversationManager) -> AsyncIterator[str]:
    cursor: str | None = None
    while True:
        page = await store.get_user_conversations(None, limit=500, cursor=cursor)
        for conversation in page.conversations:
            yield conversation.conversation_id
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _write(chunks: AsyncIterator[bytes], out: IO[bytes]) -> None:
    async for chunk in chunks:
        out.write(chunk)
    out.write(b"\n")


@click.command()
@click.argument("conversation_id", metavar="[ID]", required=False)
@click.option("-o", "--output", help="file to write to (default stdout)")
@_with_store
async def export(store: ConversationManager, conversation_id: str | None, output: str | None) -> None:
    """Export one conversation (one JSON line), or every live one (JSON lines), reading and
    writing one page of messages at a time."""
    # A CLI writing its own output file: blocking writes are what we want here.
    out: IO[bytes] = open(output, "wb") if output else sys.stdout.buffer  # noqa: ASYNC230, SIM115
    try:
        if conversation_id:
            await _write(await open_export(store, conversation_id), out)
            return
        ids = [cid async for cid in _all_ids(store)]
        exported = 0
        with _progress(len(ids)) as progress:
            task = progress.add_task("exporting", total=len(ids))
            for cid in ids:
                try:
                    chunks = await open_export(store, cid)
                except StoreError as exc:  # expired or deleted since it was listed
                    err.print(f"[yellow]skipped {cid}: {exc.message}")
                else:
                    # A failure after the first page fails the command: its last line is incomplete.
                    await _write(chunks, out)
                    exported += 1
                progress.advance(task)
        err.print(f"exported {exported} conversation(s)")
    finally:
        out.flush()
        if out is not sys.stdout.buffer:
            out.close()


def _lines(path: str) -> Iterator[tuple[int, str]]:
    stream = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line
    finally:
        if stream is not sys.stdin:
            stream.close()


@click.command("import")
@click.argument("file")
@_with_store
async def import_(store: ConversationManager, file: str) -> int:
    """Import JSON lines written by export (FILE, or - for stdin); re-runs skip existing."""
    lines = list(_lines(file))
    imported = skipped = failed = 0
    decoder = msgspec.json.Decoder(ConversationExport)
    with _progress(len(lines)) as progress:
        task = progress.add_task("importing", total=len(lines))
        for number, line in lines:
            try:
                await store.import_conversation(decoder.decode(line))
                imported += 1
            except ConflictError:
                skipped += 1  # already there: a re-run is idempotent
            except (msgspec.ValidationError, msgspec.DecodeError, StoreError) as exc:
                failed += 1
                err.print(f"[red]line {number}: {exc}")
            progress.advance(task)
    err.print(f"imported {imported}, already present {skipped}, failed {failed}")
    return 1 if failed else 0


@click.command("backup")
@click.option("-o", "--output", required=True, help="the archive to write (pg_dump's custom format)")
def backup_(output: str) -> None:
    """Back up every row of the store, and the migration history, from DATABASE_URL in one
    snapshot (pg_dump). Restore it with `restore`."""
    try:
        backup(get_settings().db.url, Path(output))
    except BackupError as exc:
        err.print(f"[red]{exc}")
        raise click.exceptions.Exit(1) from exc
    _print_json({"file": output, "bytes": Path(output).stat().st_size})


@click.command("restore")
@click.argument("file")
@click.option("--replace", is_flag=True, help="overwrite the conversations the database holds")
def restore_(file: str, replace: bool) -> None:
    """Restore a backup into DATABASE_URL, built from the same migrations: every row exactly as
    backed up, no trigger run, pg_cron untouched. Connect as a superuser (Supabase: postgres)."""
    try:
        restored = restore(get_settings().db.url, Path(file), replace=replace)
    except BackupError as exc:
        err.print(f"[red]{exc}")
        raise click.exceptions.Exit(1) from exc
    _print_json({"migration": restored.migration, "rows": restored.rows})


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """Seconds, or a number with a unit: `90`, `90s`, `30m`, `12h`, `7d`."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", value)
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration such as 3600, 30m, 12h or 7d")
    return int(match[1]) * _DURATION_UNITS[match[2]]


@click.command()
@click.option(
    "--user", "user_id", type=click.UUID, required=True, help="the user's id (auth.users.id): the `sub`"
)
@click.option(
    "--ttl",
    default="1h",
    callback=_duration,
    show_default=True,
    help=f"lifetime: seconds, or 30m, 12h, 7d (at most {MAX_TTL_SECONDS // 86400} days)",
)
@click.option("--email", default=None, help="the `email` claim (the web client shows it)")
@click.option("--force", is_flag=True, help="sign with a SUPABASE_JWT_SECRET that is not the local default")
def token(user_id: uuid.UUID, ttl: int, email: str | None, force: bool) -> None:
    """Mint a user's access token, as Supabase Auth issues one (HS256, SUPABASE_JWT_SECRET).

    For trying the API and the web client as a user on the local stack. Refused unless the
    secret is the Supabase CLI's public local one, or --force is given: with a project's own
    secret, the token is a real credential of that user. The token goes to stdout alone.
    """
    settings = get_settings()
    if not settings.auth.jwt_secret:
        err.print("[red]SUPABASE_JWT_SECRET is empty: there is nothing to sign the token with.")
        raise click.exceptions.Exit(2)
    if not (is_local_secret(settings) or force):
        err.print(
            "[red]Refused: SUPABASE_JWT_SECRET is not the Supabase CLI's local default, so a token "
            "signed with it is a real credential of this user on that project. Users sign in "
            "through Supabase Auth; pass --force if you mean to mint one anyway."
        )
        raise click.exceptions.Exit(2)
    try:
        claims = user_token_claims(user_id, ttl_seconds=ttl, issuer=issuer_for(settings), email=email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ttl") from exc
    sys.stdout.write(mint_user_token(settings.auth.jwt_secret, claims) + "\n")
    until = datetime.fromtimestamp(claims["exp"], UTC).isoformat(timespec="seconds")
    secret = "the local default secret" if is_local_secret(settings) else "SUPABASE_JWT_SECRET (forced)"
    err.print(f"an access token of user {user_id}, valid until {until}, signed with {secret}")
