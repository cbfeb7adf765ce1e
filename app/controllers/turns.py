"""/turns/{turn_id}: a turn's state, its stream from any position, and its stop.

Every chat turn runs to its end whatever its client does (app.turns.runner); these routes are how
a client gets it back, on any instance: after a reload, a dropped connection or a deploy.

* GET /turns/{turn_id}: the turn (state in_progress, completed, stopped or failed, what finished
  it, where its stream ends) and the output it stored.
* GET /turns/{turn_id}/events: its stream as server-sent events, the same events as /chat's
  stream, each `id` its seq; with Last-Event-ID (or `after`) the events after that seq, then live,
  without gap or duplicate, then its last event (done, stopped or error). A stream whose events
  were pruned (turn_events_retention_minutes after it finished) gives its start and its last event,
  which carries the whole stored reply.
* POST /turns/{turn_id}/stop: stops it wherever it runs; what was generated is stored, and every
  reader's stream ends with `stopped`. Idempotent; answers the finished turn (200), or the turn
  still stopping (202) after TURN_STOP_WAIT_SECONDS.

A user sees and stops only the turns of its own conversations (RLS, as everywhere: 404 for
another's), the service every turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from app.config import Settings
from app.controllers.chat import turn_event
from app.controllers.events import token_expiry
from app.controllers.params import stream_start
from app.dependencies import provide_turn_runner, provide_turn_streams
from app.errors import error_responses
from app.realtime import SSE_HEADERS
from app.schemas import ErrorBody
from app.store import ConversationManager, Principal
from app.store.models import TurnView
from app.turns import StreamEvent, TurnFailed, TurnRunner, TurnStreams

__all__ = ["TurnController", "follow", "sse_of"]

_encoder = msgspec.json.Encoder()

TurnIdPath = Annotated[UUID, PathParameter(description="The turn's id (`turn_id` of a /chat answer).")]
LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        required=False,
        max_length=64,
        description="The id (seq) of the last event received: the stream goes on after it.",
    ),
]
After = Annotated[
    int | None,
    QueryParameter(
        ge=0, le=2_147_483_647, description="Like Last-Event-ID, for clients that cannot set headers."
    ),
]
_HEARTBEAT = ServerSentEventMessage(data=None, comment="heartbeat")

_STREAM_EXAMPLE = (
    "id: 3\n"
    "event: delta\n"
    'data: {"text":"runs "}\n\n'
    "id: 4\n"
    "event: delta\n"
    'data: {"text":"again."}\n\n'
    "id: 5\n"
    "event: done\n"
    'data: {"conversation_id":"support-42","response":"Line 999 runs again.","finish_reason":"stop"}\n\n'
)


async def follow(
    entries: AsyncIterator[tuple[int, StreamEvent]], *, heartbeat: float, expires_at: float | None
) -> AsyncIterator[tuple[int, StreamEvent] | None]:
    """The entries, with None for a heartbeat after `heartbeat` seconds of silence; ends with a
    TurnFailed `expired` at `expires_at` (the token's exp: a stream does not outlive its right to
    be read). Reads in a task of its own, so a heartbeat never cancels the read."""
    queue: asyncio.Queue[tuple[int, StreamEvent] | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for entry in entries:
                queue.put_nowait(entry)
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(pump())
    last = -1
    try:
        while True:
            wait = heartbeat
            if expires_at is not None:
                wait = min(wait, expires_at - time.time())
                if wait <= 0:
                    yield (
                        last,
                        TurnFailed(
                            error="expired",
                            message="the token the stream was opened with has expired; "
                            "resume with a fresh one",
                            status=401,
                        ),
                    )
                    return
            try:
                entry = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                yield None
                continue
            if entry is None:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                return
            last = entry[0]
            yield entry
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def sse_of(
    request: Request[Principal, Any, State],
    entries: AsyncIterator[tuple[int, StreamEvent] | None],
) -> AsyncIterator[ServerSentEventMessage]:
    async for entry in entries:
        if entry is None:
            yield _HEARTBEAT
            continue
        seq, event = entry
        if isinstance(event, TurnFailed) and event.error == "expired":
            body = ErrorBody(error=event.error, message=event.message)
            yield ServerSentEventMessage(event="expired", data=_encoder.encode(body).decode())
            return
        yield turn_event(request, seq, event)


class TurnController(Controller):
    path = "/turns"
    tags = ["turns"]
    dependencies = {
        "runner": Provide(provide_turn_runner, sync_to_thread=False),
        "streams": Provide(provide_turn_streams, sync_to_thread=False),
    }

    @get(
        "/{turn_id:uuid}",
        summary="A turn: its state and the output it stored",
        operation_id="get_turn",
        description="The turn (`state`: in_progress, then completed, stopped or failed; `result`: "
        "model, tokens, duration_ms, finish_reason, or error; `event_seq`: the seq of its stream's "
        "last event once it ended; `stop_requested_at`; `lease_expires_at` while it runs) and the "
        "messages it stored as output. 404 for a turn that is not the caller's.",
        responses=error_responses(404),
    )
    async def get_turn(self, store: NamedDependency[ConversationManager], turn_id: TurnIdPath) -> TurnView:
        return await store.get_turn(turn_id)

    @get(
        "/{turn_id:uuid}/events",
        summary="A turn's stream, from the start or from a position (server-sent events)",
        operation_id="stream_turn_events",
        description="The turn's events as /chat streams them (start, delta, tool, then done, stopped or "
        "error), each `id` its seq (start is 0). With Last-Event-ID (or `after`): the events after that "
        "seq, then live, without gap or duplicate: the deltas joined are the stored reply. Any instance "
        "serves any turn, running or finished. A finished turn's events are kept "
        "turn_events_retention_minutes (60 by default); after that the stream is its start and its last "
        "event, which carries the whole reply. A `: heartbeat` comment every REALTIME_HEARTBEAT_SECONDS; "
        "`expired` when the token expires, `shutdown` when the server stops (resume elsewhere). Leaving "
        "the stream does not stop the turn.",
        media_type="text/event-stream",
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type="text/event-stream",
                description="Server-sent events: start, delta, tool, then done, stopped or error",
                generate_examples=False,
                examples=[Example(summary="A stream resumed after event 2", value=_STREAM_EXAMPLE)],
            ),
            **error_responses(404),
        },
    )
    async def stream_turn_events(
        self,
        request: Request[Principal, Any, State],
        store: NamedDependency[ConversationManager],
        streams: NamedDependency[TurnStreams],
        settings: NamedDependency[Settings],
        turn_id: TurnIdPath,
        after: After = None,
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        start = stream_start(last_event_id, after)
        # Authorises as the caller (404 when not theirs), with the stream's batches from the start.
        view = await store.get_turn(turn_id, after_event=0)
        entries = follow(
            streams.read(view, start),
            heartbeat=settings.realtime.heartbeat_seconds,
            expires_at=token_expiry(request.user),
        )
        return ServerSentEvent(sse_of(request, entries), headers=SSE_HEADERS)

    @post(
        "/{turn_id:uuid}/stop",
        summary="Stop a turn, wherever it runs",
        operation_id="stop_turn",
        description="Asks the turn to stop: the instance generating it (this one or another) ends the "
        "model call, stores what was generated (the reply so far, finish_reason `stopped`) and finishes "
        "the turn as stopped; every reader's stream ends with a `stopped` event. Waits up to "
        "TURN_STOP_WAIT_SECONDS for that: 200 with the finished turn, else 202 with the turn still "
        "stopping. Idempotent: a turn already stopped, completed or failed is answered as it is (200).",
        status_code=HTTP_200_OK,
        responses={
            202: ResponseSpec(
                data_container=TurnView, description="The stop was asked for; the turn is still stopping"
            ),
            **error_responses(404),
        },
    )
    async def stop_turn(
        self,
        store: NamedDependency[ConversationManager],
        runner: NamedDependency[TurnRunner],
        settings: NamedDependency[Settings],
        turn_id: TurnIdPath,
    ) -> Response[TurnView]:
        view = await runner.stop(store, turn_id, settings.turns.stop_wait_seconds)
        return Response(view, status_code=HTTP_200_OK if view.turn.finished else HTTP_202_ACCEPTED)
