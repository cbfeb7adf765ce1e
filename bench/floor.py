"""The framework's floor: what Litestar, uvicorn and psycopg cost a request before any layer of ours.

    python -m bench.floor --mode const|select1|same --host 127.0.0.1 --port N

A bare Litestar app (no middleware, no dependencies, no DTO, debug off, Litestar's logging off
as the API has it) served by uvicorn with exactly the API's server options
(``app.serving.uvicorn_options``: uvloop, httptools with the deadline protocol, keep-alive,
logging), on the two routes benchmark 7 loads, so the same wrk scripts drive it:

- ``GET /conversations/{id}?limit=10`` answers what the API answers there (a conversation with
  10 messages, read once from the database at start-up and encoded as the API encodes it);
- ``POST /conversations/{id}/messages`` reads the JSON body and answers one message (201).

``--mode`` says what a request does before it answers:

- ``const``: nothing: the constant answer;
- ``select1``: one prepared ``select 1`` through ``psycopg_pool.AsyncConnectionPool`` (the pool of
  ``app.db.create_pool``, the API's settings), then the constant answer;
- ``same``: the SQL function the API's route calls, prepared, through the same pool
  (``get_conversation(id, limit)``; ``append_message(id, role, content, idempotency_key)`` with
  the body's role and content and a key of its own, as the API gives an append without one),
  answering the function's JSON as the database wrote it. The database does the same
  work per request as behind the API, so both run at the rate the database allows and their
  CPU per request compares like for like (an event loop that wakes up for fewer requests
  spends more per request).

No security context, no authentication, no metrics, no validation beyond the JSON decode: the
API's CPU per request over this process's is the cost of our own layers.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post
from psycopg_pool import AsyncConnectionPool

from app.config import Settings, get_settings
from app.db import create_pool
from app.serving import uvicorn_options
from app.store.models import ConversationPage

__all__ = ["MODES", "Mode", "create_floor", "main"]

Mode = Literal["const", "select1", "same"]
MODES: tuple[Mode, ...] = ("const", "select1", "same")

_SELECT_1 = b"select 1"
_READ = b"select public.get_conversation(p_conversation_id => %s::text, p_message_limit => %s::integer)::text"
# With an idempotency key, as the API sends one for an append that came without.
_APPEND = (
    b"select public.append_message(p_conversation_id => %s::text, p_role => %s::text,"
    b" p_content => %s::text, p_idempotency_key => %s::text)::text"
)
_JSON = "application/json"


class _Body(msgspec.Struct):
    role: str
    content: str


class _Floor:
    """The pool and the constant answers, made at start-up."""

    def __init__(self, settings: Settings, mode: Mode, sample: str) -> None:
        self.settings = settings
        self.mode = mode
        self.sample = sample
        self.pool: AsyncConnectionPool = create_pool(settings.db)
        self.page = b""
        self.message = b""
        self.prefix = os.urandom(8).hex()  # keys unique across floor processes and runs
        self.keys = itertools.count()

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        self.pool = create_pool(self.settings.db)  # a pool opens once: a new one per lifespan
        await self.pool.open(wait=True)
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(_READ, (self.sample, 10))
                row = await cur.fetchone()
            if row is None or row[0] is None:
                raise RuntimeError(f"no conversation {self.sample!r} to take the constant answer from")
            page = msgspec.json.decode(row[0], type=ConversationPage)
            if not page.messages:
                raise RuntimeError(f"conversation {self.sample!r} has no messages")
            # Encoded as the API encodes its answers (msgspec, the structs' field order).
            self.page = msgspec.json.encode(page)
            self.message = msgspec.json.encode(page.messages[-1])
            yield
        finally:
            await self.pool.close()

    async def _call(self, statement: bytes, params: tuple[Any, ...]) -> Any:
        async with self.pool.connection() as conn:
            cur = await conn.execute(statement, params, prepare=True)
            row = await cur.fetchone()
        return row[0] if row else None

    def routes(self) -> list[Any]:
        floor = self

        @get("/conversations/{conversation_id:str}")
        async def read(conversation_id: str, limit: int = 50) -> Response[bytes]:
            if floor.mode == "same":
                answer = await floor._call(_READ, (conversation_id, limit))
                return Response(answer.encode(), media_type=_JSON)
            if floor.mode == "select1":
                await floor._call(_SELECT_1, ())
            return Response(floor.page, media_type=_JSON)

        @post("/conversations/{conversation_id:str}/messages")
        async def append(conversation_id: str, request: Request[Any, Any, Any]) -> Response[bytes]:
            body = msgspec.json.decode(await request.body(), type=_Body)
            if floor.mode == "same":
                key = f"floor:{floor.prefix}-{next(floor.keys)}"
                answer = await floor._call(_APPEND, (conversation_id, body.role, body.content, key))
                return Response(answer.encode(), media_type=_JSON, status_code=201)
            if floor.mode == "select1":
                await floor._call(_SELECT_1, ())
            return Response(floor.message, media_type=_JSON, status_code=201)

        @get("/health")
        async def health() -> Response[bytes]:  # what bench.api.Api waits for
            return Response(b"{}", media_type=_JSON)

        return [read, append, health]


def create_floor(settings: Settings, mode: Mode, sample: str) -> Litestar:
    """The floor app; ``sample``: a conversation with messages (the constant answers' source)."""
    floor = _Floor(settings, mode, sample)
    return Litestar(
        route_handlers=floor.routes(),
        lifespan=[floor.lifespan],
        debug=False,
        logging_config=None,
        openapi_config=None,
        request_max_body_size=settings.server.max_body_bytes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--sample", required=True, help="a conversation id with messages")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args()
    settings = get_settings()
    options = {
        **uvicorn_options(settings, host=opts.host, port=opts.port),
        "app": create_floor(settings, opts.mode, opts.sample),
        "factory": False,
    }
    uvicorn.run(**options)


if __name__ == "__main__":
    main()
