"""Command line for operators: `python -m app <command>` (also the `conversations` script).

The commands are click commands that the `ConversationsCLI` plugin adds to Litestar's own
CLI group, at the top level, next to Litestar's `run`, `routes` and `schema`. Every command
but `serve` is one or more store calls as the service, over the transport the configuration
selects (a Supabase project, or DATABASE_URL). JSON goes to stdout; messages and progress
bars to stderr.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import IO, Any

import click
import msgspec
from litestar import Litestar
from litestar.plugins import CLIPluginProtocol
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.auth import check_auth_mode
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
    `export`, `import`). It touches nothing but the CLI group: the app it is registered on
    serves exactly as without it."""

    __slots__ = ()

    def on_cli_init(self, cli: click.Group) -> None:
        for command in (serve, stats, cleanup, extend, export, import_):
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
