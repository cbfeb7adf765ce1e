"""Command line for operators: `python -m app <command>` (also the `conversations` script).

Every command but `serve` is one or more store calls as the service, over the transport the
configuration selects (a Supabase project, or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.config import get_settings
from app.store import ConflictError, ConversationManager, StoreError
from app.store.factory import open_store
from app.store.models import ConversationExport

__all__ = ["main"]

err = Console(stderr=True)
_json = msgspec.json.Encoder()


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


# -- commands ------------------------------------------------------------------------------
async def _stats(store: ConversationManager, args: argparse.Namespace) -> int:
    _print_json(await store.stats())
    return 0


async def _cleanup(store: ConversationManager, args: argparse.Namespace) -> int:
    removed = await store.cleanup_expired(args.batch_size)
    _print_json({"removed": removed})
    return 0


async def _extend(store: ConversationManager, args: argparse.Namespace) -> int:
    _print_json(await store.extend_ttl(args.conversation_id, args.hours))
    return 0


async def _all_ids(store: ConversationManager) -> AsyncIterator[str]:
    cursor: str | None = None
    while True:
        page = await store.get_user_conversations(None, limit=500, cursor=cursor)
        for conversation in page.conversations:
            yield conversation.conversation_id
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _export(store: ConversationManager, args: argparse.Namespace) -> int:
    if args.conversation_id:
        _print_json(await store.export_conversation(args.conversation_id))
        return 0
    # A CLI writing its own output file: blocking writes are what we want here.
    out: IO[str] = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: ASYNC230, SIM115
    ids = [cid async for cid in _all_ids(store)]
    exported = 0
    try:
        with _progress(len(ids)) as progress:
            task = progress.add_task("exporting", total=len(ids))
            for cid in ids:
                try:
                    document = await store.export_conversation(cid)
                except StoreError as exc:  # expired or deleted since it was listed
                    err.print(f"[yellow]skipped {cid}: {exc.message}")
                else:
                    out.write(_json.encode(document).decode() + "\n")
                    exported += 1
                progress.advance(task)
    finally:
        if out is not sys.stdout:
            out.close()
    err.print(f"exported {exported} conversation(s)")
    return 0


def _lines(path: str) -> Iterator[tuple[int, str]]:
    stream = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line
    finally:
        if stream is not sys.stdin:
            stream.close()


async def _import(store: ConversationManager, args: argparse.Namespace) -> int:
    lines = list(_lines(args.file))
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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.auth import check_auth_mode

    settings = get_settings()
    host = args.host or settings.server.host
    try:
        check_auth_mode(settings.server.auth, host)
    except RuntimeError as exc:
        err.print(f"[red]{exc}")
        return 2
    uvicorn.run(
        "app.server:create_app",
        factory=True,
        host=host,
        port=args.port or settings.server.port,
        log_level=settings.server.log_level,
        proxy_headers=False,
    )
    return 0


Command = Callable[[ConversationManager, argparse.Namespace], Coroutine[Any, Any, int]]


def _with_store(command: Command) -> Callable[[argparse.Namespace], int]:
    async def run(args: argparse.Namespace) -> int:
        async with open_store(get_settings(), wait=True) as (_, store):
            return await command(store, args)

    def sync(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(run(args))
        except StoreError as exc:
            err.print(f"[red]{exc.code}: {exc.message}")
            return 1

    return sync


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conversations", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="address to bind (default API_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default API_PORT)")
    serve.set_defaults(func=_serve)

    sub.add_parser("stats", help="print conversation statistics").set_defaults(func=_with_store(_stats))

    cleanup = sub.add_parser("cleanup", help="delete expired conversations now")
    cleanup.add_argument("--batch-size", type=int, default=None, help="conversations per batch")
    cleanup.set_defaults(func=_with_store(_cleanup))

    extend = sub.add_parser("extend", help="extend a conversation's lifetime")
    extend.add_argument("conversation_id")
    extend.add_argument("--hours", type=int, default=24, help="hours to add (default 24)")
    extend.set_defaults(func=_with_store(_extend))

    export = sub.add_parser("export", help="export one conversation (JSON) or all (JSON lines)")
    export.add_argument("conversation_id", nargs="?", help="omit to export every live conversation")
    export.add_argument("-o", "--output", help="file for JSON lines (default stdout)")
    export.set_defaults(func=_with_store(_export))

    imp = sub.add_parser("import", help="import JSON lines written by export (re-runs skip existing)")
    imp.add_argument("file", help="JSON lines file, or - for stdin")
    imp.set_defaults(func=_with_store(_import))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
