"""HTTP error handling: one JSON shape, `{"error": code, "message": ..., "details": ...}`, for
every error the API answers, whether Litestar raised it (routing, validation, auth, body
size), the store did (domain errors) or nothing expected it (a bug: logged, answered 500
without internals).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from app.auth.tokens import SigningKeysUnavailableError
from app.schemas import ErrorBody
from app.store.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    UnavailableError,
)

__all__ = ["ApiError", "create_exception_handlers", "error_response"]

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
_STORE_STATUS: dict[type[StoreError], int] = {
    AuthenticationError: 401,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    ForbiddenError: 403,
    UnavailableError: 503,
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
            log.warning("%s %s: unavailable: %s", request.method, request.url.path, exc.message)
            # The transport's message may name hosts and ports: keep it in the log.
            safe = isinstance(exc, SigningKeysUnavailableError)
            return error_response(
                503,
                exc.code,
                f"{exc.message}; retry later" if safe else "the database is unavailable; retry later",
                None,
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


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def create_exception_handlers(retry_after_seconds: int = 1) -> ExceptionHandlersMap:
    """The app's exception handlers, most specific class first by MRO."""
    return {
        HTTPException: _http_error,
        StoreError: _store_error(retry_after_seconds),
        Exception: _unexpected,
    }
