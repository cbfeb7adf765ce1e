"""HTTP error handling: one JSON shape, `{"error": code, "message": ..., "details": ...}`, for
every error the API answers, whether Litestar raised it (routing, validation, auth, body
size), the store did (domain errors), the model provider did (502, or 504 on a timeout) or
nothing expected it (a bug: logged, answered 500 without internals).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.types import ExceptionHandlersMap

from app.auth.tokens import SigningKeysUnavailableError
from app.llm.provider import ProviderError, ProviderHTTPError
from app.realtime.errors import RealtimeError
from app.schemas import ErrorBody
from app.store.errors import (
    AuthenticationError,
    BusyError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PoolExhaustedError,
    StatementTimeoutError,
    StoreError,
    UnavailableError,
)

__all__ = [
    "ApiError",
    "create_exception_handlers",
    "error_response",
    "error_responses",
    "handle_exception",
    "provider_error_details",
]

log = logging.getLogger("app.errors")

# Error codes of HTTP statuses Litestar (or the API) raises.
_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
_CLIENT_GONE = "client disconnected prematurely"  # litestar.connection.Request.stream()
_STORE_STATUS: dict[type[StoreError], int] = {
    AuthenticationError: 401,
    BusyError: 409,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    ForbiddenError: 403,
    UnavailableError: 503,
}


# What a 503 says, by class: the transports' own messages (hosts, ports) stay in the log.
_UNAVAILABLE: dict[type[StoreError], str] = {
    UnavailableError: "the database is unavailable; retry later",
    PoolExhaustedError: "every database connection of this API instance is busy; retry later",
    StatementTimeoutError: "the database did not finish the operation in time; retry later",
}


class ApiError(HTTPException):
    """An HTTPException with an explicit error code (the code otherwise follows the status)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, status_code=status_code, headers=headers, extra=details)
        self.code = code


def error_response(
    status_code: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response[ErrorBody]:
    return Response(
        ErrorBody(error=code, message=message, details=details),
        status_code=status_code,
        headers=headers,
        media_type=MediaType.JSON,
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    details: Any = exc.extra
    message = exc.detail
    if isinstance(exc, ApiError):
        code = exc.code
    elif isinstance(exc, ValidationException):
        # Litestar's own validation (query, path, headers, a missing body): a 422 like ours.
        status, code = 422, "validation_error"
        if isinstance(details, list) and any(
            isinstance(d, dict) and d.get("key") == "data" and d.get("source") == "body" for d in details
        ):
            message, details = "a JSON request body is required", [{"key": "body", "message": "missing"}]
        elif message.startswith("Validation failed for "):
            message = "invalid request parameters"  # Litestar's text echoes the raw path
    elif message == _CLIENT_GONE:
        # Litestar's 500 for a body that stopped coming (the client left, or missed
        # API_BODY_TIMEOUT_SECONDS): nobody reads this answer, and it is not the server's fault.
        log.info("%s %s: %s", request.method, request.url.path, message)
        return error_response(499, "client_closed_request", message)
    else:
        code = _CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    if status >= 500 and not isinstance(exc, ApiError):
        # Litestar only raises 5xx on an internal failure: never show its details.
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        message, details = "internal server error", None
    return error_response(status, code, message, details, exc.headers)


def _store_error(retry_after: int) -> Any:
    def handler(request: Request[Any, Any, Any], exc: StoreError) -> Response[ErrorBody]:
        status = next((_STORE_STATUS[c] for c in type(exc).__mro__ if c in _STORE_STATUS), 500)
        if status == 503:
            log.warning("%s %s: %s: %s", request.method, request.url.path, exc.code, exc.message)
            # The transport's message may name hosts and ports: keep it in the log.
            if isinstance(exc, SigningKeysUnavailableError):
                message = f"{exc.message}; retry later"
            else:
                message = _UNAVAILABLE.get(type(exc), _UNAVAILABLE[UnavailableError])
            return error_response(503, exc.code, message, None, {"Retry-After": str(retry_after)})
        if isinstance(exc, BusyError):
            return error_response(
                409,
                exc.code,
                "the conversation is locked by another transaction; retry shortly",
                {"sqlstate": exc.sqlstate} if exc.sqlstate else None,
                {"Retry-After": str(retry_after)},
            )
        if status == 401:
            # The peer (PostgREST) refused the forwarded token.
            return error_response(
                401, "unauthorized", exc.message, None, {"WWW-Authenticate": 'Bearer realm="conversations"'}
            )
        if status == 500:
            log.error(
                "%s %s: store error %s: %s", request.method, request.url.path, exc.sqlstate, exc.message
            )
            return error_response(500, "internal_error", "internal server error")
        # The database's DETAIL (e.g. "Failing row contains ...") stays in the logs.
        return error_response(
            status, exc.code, exc.message, {"sqlstate": exc.sqlstate} if exc.sqlstate else None
        )

    return handler


def provider_error_details(exc: ProviderError) -> dict[str, Any]:
    """What an answer tells about a provider failure: the structured details the provider
    layer and the chat turn attached (finish reason, tool, conversation_id, user message id),
    and the upstream status of an HTTP error. Raw snippets of the provider's answer stay in the
    log."""
    details: dict[str, Any] = dict(exc.details) if isinstance(exc.details, dict) else {}
    if isinstance(exc, ProviderHTTPError):
        details["upstream_status"] = exc.upstream_status
    return details


def _provider_error(request: Request[Any, Any, Any], exc: ProviderError) -> Response[ErrorBody]:
    log.warning(
        "%s %s: model provider failed (%s): %s%s",
        request.method,
        request.url.path,
        exc.code,
        exc.message,
        f" [{exc.details!r}]" if exc.details is not None and not isinstance(exc.details, dict) else "",
    )
    return error_response(exc.status_code, exc.code, exc.message, provider_error_details(exc) or None)


RealtimeHandler = Callable[[Request[Any, Any, Any], RealtimeError], Response[ErrorBody]]


def _realtime_error(retry_after: int) -> RealtimeHandler:
    def handle(request: Request[Any, Any, Any], exc: RealtimeError) -> Response[ErrorBody]:
        # The hub is shutting down or full: another instance, or this one later, can serve it.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        response = error_response(503, "unavailable", str(exc))
        response.headers["Retry-After"] = str(retry_after)
        return response

    return handle


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def create_exception_handlers(retry_after_seconds: int = 1) -> ExceptionHandlersMap:
    """The app's exception handlers, most specific class first by MRO."""
    return {
        HTTPException: _http_error,
        StoreError: _store_error(retry_after_seconds),
        ProviderError: _provider_error,
        RealtimeError: _realtime_error(retry_after_seconds),
        Exception: _unexpected,
    }


def handle_exception(
    handlers: ExceptionHandlersMap, request: Request[Any, Any, Any], exc: Exception
) -> Response[Any]:
    """The answer the handlers give for `exc` (most specific class first), for where an error
    can no longer be raised to Litestar: an event stream that already sent its status."""
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            return handler(request, exc)
    return _unexpected(request, exc)


# -- the error answers of a route, in its OpenAPI description ---------------------------------
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


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers of a route (always 401, 422 and 503)."""
    wanted = sorted({401, 422, 503, *statuses})
    return {
        s: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[s], generate_examples=False)
        for s in wanted
    }
