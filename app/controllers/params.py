"""Path, query and header parameters shared by the controllers, and the documented errors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar.params import HeaderParameter, PathParameter, QueryParameter

from app.dto import decode_json_text
from app.errors import ApiError
from app.realtime import parse_last_event_id
from app.schemas import CONVERSATION_ID_PATTERN, INT32_MAX

__all__ = [
    "ArchivedQuery",
    "BeforeSeq",
    "ConversationIdPath",
    "ConversationsLimit",
    "Cursor",
    "FromQuery",
    "GroupByQuery",
    "IdempotencyKeyHeader",
    "MessagesLimit",
    "MetadataQuery",
    "PinnedQuery",
    "SearchLimit",
    "SearchQuery",
    "SeqPath",
    "TagQuery",
    "ToQuery",
    "UserIdPath",
    "UserIdQuery",
    "idempotency_key",
    "json_object_query",
    "stream_start",
]

INT64_MAX = 9_223_372_036_854_775_807

ConversationIdPath = Annotated[
    str,
    PathParameter(
        pattern=CONVERSATION_ID_PATTERN,
        max_length=255,
        description="The conversation id: letters, digits and _ . : @ - (1 to 255 characters).",
    ),
]
BeforeSeq = Annotated[
    int | None,
    QueryParameter(
        ge=0, le=INT64_MAX, description="Return messages with a seq below this (the next_cursor)."
    ),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Opaque cursor: the next_cursor of the previous page.",
    ),
]
UserIdQuery = Annotated[
    UUID | None, QueryParameter(description="Whose conversations (service only, or the caller itself).")
]
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        required=False,
        description="Same as the body's idempotency_key (the two must agree when both are sent).",
    ),
]


SeqPath = Annotated[int, PathParameter(ge=1, le=INT64_MAX, description="The message's seq.")]
UserIdPath = Annotated[UUID, PathParameter(description="The user whose data this is.")]
ArchivedQuery = Annotated[
    bool,
    QueryParameter(description="true: only archived conversations; false (default): archived ones hidden."),
]
PinnedQuery = Annotated[
    bool | None, QueryParameter(description="Only pinned (true) or unpinned (false) ones.")
]
TagQuery = Annotated[
    list[str] | None,
    QueryParameter(description="Repeatable: conversations carrying every tag given.", max_items=20),
]
MetadataQuery = Annotated[
    str | None,
    QueryParameter(
        max_length=10_000,
        description='A JSON object the metadata must contain, e.g. {"project":"apollo"}.',
    ),
]
SearchQuery = Annotated[
    str,
    QueryParameter(
        min_length=1,
        max_length=1000,
        description='Words to find (websearch syntax: "a phrase", or, -word); case-insensitive.',
    ),
]
SearchLimit = Annotated[
    int, QueryParameter(ge=0, le=INT32_MAX, description="Hits per page (the database caps it).")
]
FromQuery = Annotated[
    date | None, QueryParameter(name="from", description="First UTC day of the period (YYYY-MM-DD).")
]
ToQuery = Annotated[
    date | None, QueryParameter(description="UTC day after the period (exclusive, YYYY-MM-DD).")
]
GroupByQuery = Annotated[
    list[Literal["day", "model"]] | None,
    QueryParameter(description="Repeatable: day (UTC) and/or model; none: one total row."),
]

ConversationsLimit = Annotated[
    int, QueryParameter(ge=0, le=INT32_MAX, description="Conversations per page (the database caps it).")
]
MessagesLimit = Annotated[
    int,
    QueryParameter(
        ge=0, le=INT32_MAX, description="Newest messages to include (0: none; the database caps it)."
    ),
]


def idempotency_key(body: str | None, header: str | None) -> str | None:
    """The request's idempotency key, from the body or the Idempotency-Key header; 422 when
    both are sent and differ (which one to honour would be a guess)."""
    if header is None:
        return body
    if body is not None and body != header:
        raise ApiError(
            "validation_error",
            "idempotency_key and the Idempotency-Key header differ",
            status_code=422,
            details=[{"key": "idempotency_key", "source": "body"}],
        )
    return header


def json_object_query(name: str, value: str | None) -> dict[str, Any] | None:
    """A query parameter holding a JSON object; 422 when it is not one."""
    if value is None:
        return None
    decoded = decode_json_text(value, name)
    if not isinstance(decoded, dict):
        raise ApiError(
            "validation_error",
            f"{name} must be a JSON object",
            status_code=422,
            details=[{"key": name, "source": "query"}],
        )
    return decoded


def stream_start(last_event_id: str | None, after: int | None) -> int | None:
    """Where a resumed event stream goes on: after the Last-Event-ID header's seq, else after
    `after` (the same for clients that cannot set headers), else from the start (None); 422 when
    the header is not a seq."""
    try:
        resume = parse_last_event_id(last_event_id)
    except ValueError as exc:
        raise ApiError(
            "validation_error",
            str(exc),
            status_code=422,
            details=[{"key": "Last-Event-ID", "source": "header"}],
        ) from exc
    return resume if resume is not None else after
