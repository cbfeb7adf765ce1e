"""Live messages of one conversation as server-sent events, resumable by sequence number."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent

from app.config import Settings
from app.controllers.params import ConversationIdPath, errors
from app.dependencies import provide_hub
from app.errors import ApiError
from app.realtime import SSE_HEADERS, Hub, parse_last_event_id, sse_events
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
        responses=errors(404),
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
        try:
            resume = parse_last_event_id(last_event_id)
        except ValueError as exc:
            raise ApiError(
                "validation_error",
                str(exc),
                status_code=422,
                details=[{"key": "Last-Event-ID", "source": "header"}],
            ) from exc
        # Authorize as the caller (404 when not theirs): the stream is bound to the row read
        # here, never to whatever later takes its id; the hub then reads as the service.
        window = await store.get_stream_window(conversation_id)
        start = resume if resume is not None else after
        subscription = await hub.subscribe(conversation_id, start, row=window.row_id)
        return ServerSentEvent(
            sse_events(
                subscription,
                heartbeat=settings.realtime.heartbeat_seconds,
                expires_at=token_expiry(request.user),
            ),
            headers=SSE_HEADERS,
        )
