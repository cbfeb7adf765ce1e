"""Live messages of one conversation as server-sent events, resumable by sequence number."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent

from app.config import Settings
from app.controllers.params import ConversationIdPath, stream_start
from app.dependencies import provide_hub
from app.errors import error_responses
from app.realtime import SSE_HEADERS, Hub, sse_events
from app.store import ConversationManager, Principal

__all__ = ["EventsController"]

LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        required=False,
        max_length=64,
        description="The seq of the last message received (ASCII digits); what was missed since is "
        "replayed first.",
    ),
]
After = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=9_223_372_036_854_775_807,
        description="Like Last-Event-ID, for clients that cannot set headers (0: from the start).",
    ),
]

# What a client reads after a resume from seq 1 (`Last-Event-ID: 1`): the missed message, then
# a heartbeat while nothing new comes.
_STREAM_EXAMPLE = (
    "retry: 2000\n\n"
    "id: 2\n"
    "event: message\n"
    'data: {"id":"2cfe4f52-ab99-49aa-a32d-d917f719af22","conversation_id":"support-42","seq":2,'
    '"role":"assistant","content":"Line 999 runs.","metadata":{"model":"gpt-4o-mini"},'
    '"created_at":"2026-12-07T09:13:37.948652Z","idempotency_key":null,"tokens":4,'
    '"user_id":null,"feedback":null}\n\n'
    ": heartbeat\n\n"
)


def token_expiry(principal: Principal) -> float | None:
    """When the caller's token expires (its `exp` claim), if it says."""
    exp = principal.claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class EventsController(Controller):
    path = "/conversations/{conversation_id:str}/events"
    tags = ["realtime"]
    dependencies = {"hub": Provide(provide_hub, sync_to_thread=False)}

    @get(
        "/",
        summary="Stream new messages (server-sent events)",
        operation_id="stream_conversation_events",
        description="One `message` event per new message, `id` = its seq. With Last-Event-ID (or "
        "`after`), the messages after that seq are replayed from the database first, then the "
        "stream goes on live, without gap or duplicate. A resume point beyond the conversation's "
        "last seq (its id was reused after expiry, or the id is not one of its seqs) starts the "
        "stream with a `reset` event and replays the conversation from its first message. A "
        "`: heartbeat` comment every 15 s. The stream is bound to the conversation the token could read "
        "when it opened: it ends with `gone` when that conversation expires or is deleted (a later "
        "conversation of the same id is another stream), `expired` when the token expires (resume "
        "with a fresh one), `overflow` when the client reads too slowly, `shutdown` when the server "
        "stops.",
        media_type="text/event-stream",
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type="text/event-stream",
                description="Server-sent events: message, then reset, overflow, gone or shutdown",
                generate_examples=False,
                examples=[Example(summary="A resumed stream", value=_STREAM_EXAMPLE)],
            ),
            **error_responses(404),
        },
    )
    async def events(
        self,
        request: Request[Principal, Any, State],
        store: NamedDependency[ConversationManager],
        hub: NamedDependency[Hub],
        settings: NamedDependency[Settings],
        conversation_id: ConversationIdPath,
        after: After = None,
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        start = stream_start(last_event_id, after)
        # Authorize as the caller (404 when not theirs): the stream is bound to the row read
        # here, never to whatever later takes its id; the hub then reads as the service.
        window = await store.get_stream_window(conversation_id)
        subscription = await hub.subscribe(conversation_id, start, row=window.row_id)
        return ServerSentEvent(
            sse_events(
                subscription,
                heartbeat=settings.realtime.heartbeat_seconds,
                expires_at=token_expiry(request.user),
            ),
            headers=SSE_HEADERS,
        )
