"""A request id on every response and every log line.

The id is the client's `X-Request-ID` when it is well-formed (1-128 characters of
`[A-Za-z0-9._:-]`, so it cannot forge log lines or headers), else a process-unique token
(app.unique: no system call, this runs on every request). It is
chosen once per request and kept in the scope's state; the API's one middleware (app.entry)
puts it in the `REQUEST_ID` context variable for the handlers' log records (`RequestIdFilter`
copies it onto each record), and `send_request_id`, an app-level before_send hook, puts it on
the response, errors answered by Litestar's own exception handling (and unrouted requests)
included.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from litestar.enums import ScopeType
from litestar.types import Message, Scope

from app.unique import unique_token

__all__ = ["HEADER", "REQUEST_ID", "RequestIdFilter", "request_id", "send_request_id"]

HEADER = "X-Request-ID"
_HEADER_NAME = HEADER.lower().encode()
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_STATE_KEY = "request_id"


def request_id(scope: Scope) -> str:
    """The request's id: chosen on first use, the same afterwards."""
    state = scope["state"]
    found: str | None = state.get(_STATE_KEY)
    if found is None:
        found = unique_token()
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _WELL_FORMED.fullmatch(value):
                    found = value.decode("ascii")
                break
        state[_STATE_KEY] = found
    return found


async def send_request_id(message: Message, scope: Scope) -> None:
    """before_send hook: X-Request-ID on every HTTP response."""
    if message["type"] == "http.response.start" and scope["type"] == ScopeType.HTTP:
        message["headers"] = [*message.get("headers", ()), (_HEADER_NAME, request_id(scope).encode())]


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request), for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True
