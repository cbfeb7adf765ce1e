"""Errors of the /v1 routes in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

The status of every failure is decided once, by the app's own handlers (app.errors); the /v1
router's handlers take that answer and reshape it, so the two APIs never disagree on what a
failure is, only on how it is spelled. Two differences from the native API, both OpenAI's: an
invalid parameter is a 400 (not a 422), and `param` names it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.openapi import ResponseSpec
from litestar.types import ExceptionHandlersMap

from app.errors import handle_exception
from app.schemas import ErrorBody

__all__ = [
    "InvalidRequest",
    "OpenAIError",
    "OpenAIErrorBody",
    "create_openai_exception_handlers",
    "openai_errors",
]


class InvalidRequest(Exception):
    """A request the /v1 API refuses as OpenAI does: 400 `invalid_request_error` naming `param`
    (409 and others through `status_code`)."""

    def __init__(
        self, message: str, param: str | None = None, *, code: str | None = None, status_code: int = 400
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status_code = status_code


class OpenAIError(msgspec.Struct, frozen=True):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(msgspec.Struct, frozen=True):
    """The error body of every /v1 route."""

    error: OpenAIError


_DESCRIPTIONS = {
    400: "Invalid request (param names the parameter)",
    401: "Missing or invalid api_key (bearer token)",
    404: "Unknown, expired or another user's conversation, item or response",
    409: "Conflict with the stored state",
    413: "Request body too large",
    502: "The model provider failed",
    503: "The database is unavailable; retry later",
    504: "The model provider did not answer in time",
}


def openai_errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The documented error answers of a /v1 route, in OpenAI's shape."""
    return {
        status: ResponseSpec(
            data_container=OpenAIErrorBody, description=_DESCRIPTIONS[status], generate_examples=False
        )
        for status in (*statuses, 401, 503)
    }


def _type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error"
    )


def openai_error(
    status: int, message: str, param: str | None = None, code: str | None = None, headers: Any = None
) -> Response[OpenAIErrorBody]:
    return Response(
        OpenAIErrorBody(OpenAIError(message=message, type=_type(status), param=param, code=code)),
        status_code=status,
        headers=headers,
        media_type=MediaType.JSON,
    )


def _param(details: Any) -> tuple[str | None, str | None]:
    """The parameter a validation failure names (Litestar's `key`), and what it says of it."""
    if isinstance(details, list) and details and isinstance(details[0], dict):
        key, text = details[0].get("key"), details[0].get("message")
        return (str(key) if key else None), (str(text) if text else None)
    return None, None


def create_openai_exception_handlers(native: ExceptionHandlersMap) -> ExceptionHandlersMap:
    """Handlers for the /v1 router: the same classes as `native` (so none of them is reached
    first by MRO), each answering the native status in OpenAI's shape."""

    def reshape(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if isinstance(exc, InvalidRequest):
            return openai_error(exc.status_code, exc.message, exc.param, exc.code)
        return reshape_response(handle_exception(native, request, exc))

    handlers: ExceptionHandlersMap = dict.fromkeys(native, reshape)
    handlers[InvalidRequest] = reshape
    return handlers


def reshape_response(response: Response[Any]) -> Response[OpenAIErrorBody]:
    """A native error answer (ErrorBody) in OpenAI's shape."""
    body = response.content
    status = response.status_code or 500
    if not isinstance(body, ErrorBody):  # pragma: no cover - every native handler answers one
        return openai_error(status, "internal server error", code="internal_error")
    param, text = _param(body.details)
    message = body.message
    if status == 422:
        status = 400
        if param and text:
            message = f"Invalid '{param}': {text}."
    return openai_error(status, message, param, body.error, response.headers or None)
