"""Live messages of one conversation as server-sent events, resumable by sequence number."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent

from app.config import RealtimeSettings
from app.controllers.params import ConversationIdPath, errors
from app.realtime import SSE_HEADERS, Hub, parse_last_event_id, sse_events
from app.store import ConversationManager, Principal

__all__ = ["EventsController"]

LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        required=False,
        max_length=64,
        description="The seq of the last message received; what was missed since is replayed first.",
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


class EventsController(Controller):
    path = "/conversations/{conversation_id:str}/events"
    tags = ["realtime"]

    @get(
        "/",
        summary="Stream new messages (server-sent events)",
        description="One `message` event per new message, `id` = its seq. With Last-Event-ID (or "
        "`after`), the messages after that seq are replayed from the database first, then the "
        "stream goes on live, without gap or duplicate. A `: heartbeat` comment every 15 s. The "
        "stream ends with an `overflow` event when the client reads too slowly, `gone` when the "
        "conversation expires or is deleted, `shutdown` when the server stops.",
        media_type="text/event-stream",
        responses=errors(404),
    )
    async def events(
        self,
        request: Request[Principal, Any, State],
        store: NamedDependency[ConversationManager],
        conversation_id: ConversationIdPath,
        after: After = None,
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        # Authorize as the caller (404 when not theirs); the hub then reads as the service.
        await store.get_conversation(conversation_id, limit=0)
        hub: Hub = request.app.state.hub
        realtime: RealtimeSettings = request.app.state.realtime
        start = parse_last_event_id(last_event_id) if last_event_id is not None else after
        subscription = await hub.subscribe(conversation_id, start)
        return ServerSentEvent(
            sse_events(subscription, heartbeat=realtime.heartbeat_seconds), headers=SSE_HEADERS
        )
