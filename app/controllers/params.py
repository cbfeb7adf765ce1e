"""Path, query and header parameters shared by the controllers, and the documented errors."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, PathParameter, QueryParameter

from app.errors import ApiError
from app.schemas import CONVERSATION_ID_PATTERN, INT32_MAX, ErrorBody

__all__ = [
    "BeforeSeq",
    "ConversationIdPath",
    "ConversationsLimit",
    "Cursor",
    "IdempotencyKeyHeader",
    "MessagesLimit",
    "UserIdQuery",
    "errors",
    "idempotency_key",
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


ConversationsLimit = Annotated[
    int, QueryParameter(ge=0, le=INT32_MAX, description="Conversations per page (the database caps it).")
]
MessagesLimit = Annotated[
    int,
    QueryParameter(
        ge=0, le=INT32_MAX, description="Newest messages to include (0: none; the database caps it)."
    ),
]


_DESCRIPTIONS = {
    400: "Malformed request (not JSON)",
    401: "Missing or invalid bearer token",
    403: "Not allowed for this principal",
    404: "Conversation unknown, expired, or not the caller's",
    409: "Conflict with existing data",
    413: "Request body too large",
    422: "Invalid input",
    503: "Database unavailable (see Retry-After)",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers of a route (always 401, 422 and 503)."""
    wanted = sorted({401, 422, 503, *statuses})
    return {
        s: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[s], generate_examples=False)
        for s in wanted
    }


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
