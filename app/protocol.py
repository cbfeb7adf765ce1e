"""uvicorn's HTTP protocol with deadlines for slow clients (slowloris).

uvicorn (0.54, httptools) bounds only the idle time *after* a response (`timeout_keep_alive`):
a connection that never sends its first request, or sends its headers or its body a byte at a
time, stays open for as long as the client likes, and 1,000 of them were all still open after
60 s. `limit_concurrency` does not help: it answers 503 once headers are complete, which a slow
client never gets to. This protocol adds the two deadlines a mature server has (nginx's
`client_header_timeout` and `client_body_timeout`, Apache's mod_reqtimeout):

- the request head (request line and headers) must be complete within `header_timeout`
  seconds of the connection opening, or of the previous response on a kept-alive connection;
  otherwise the connection is closed (408 if part of a head had arrived);
- the body must be complete within `body_timeout` seconds of its headers, otherwise the client
  gets 408 and the connection is closed; the application sees the client disconnect.

One timer per connection and per request with a body (`loop.call_later`), nothing per chunk.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["DeadlineHttpToolsProtocol", "deadline_protocol"]

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)
_HEAD_BODY = b'{"error":"request_timeout","message":"the request %s did not arrive in time","details":null}'


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the head and body deadlines of the module docstring (seconds;
    set on the subclass `deadline_protocol` makes)."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._head_started = False

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, what: bytes) -> None:
        if self.transport.is_closing():
            return
        body = _HEAD_BODY % what
        self.transport.write(_REQUEST_TIMEOUT % (len(body), body))
        self.transport.close()

    # -- the head ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_started = False
        self._arm(self.header_timeout, self._head_expired)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        if self._deadline is None:  # a pipelined request: its own head deadline
            self._arm(self.header_timeout, self._head_expired)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_started = False
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope and self._expects_body():
            self._arm(self.body_timeout, self._body_expired)

    def _head_expired(self) -> None:
        self._deadline = None
        if self._head_started:
            self._refuse(b"head")
        elif not self.transport.is_closing():
            self.transport.close()  # nothing sent at all: close quietly, as keep-alive does

    # -- the body ------------------------------------------------------------------------
    def _expects_body(self) -> bool:
        for name, value in self.headers:
            if (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
                return True
        return False

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete and not self.pipeline:
            # Answered before its body was read (e.g. a 415): back to waiting for a head.
            self._arm(self.header_timeout, self._head_expired)

    def _body_expired(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is None or not cycle.more_body:
            return
        # The application, waiting in receive(), gets http.disconnect; nothing it sends goes out.
        cycle.disconnected = True
        cycle.message_event.set()
        if not cycle.response_started:
            self._refuse(b"body")
        elif not self.transport.is_closing():
            self.transport.close()

    # -- between requests ----------------------------------------------------------------
    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm(self.header_timeout, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def deadline_protocol(header_timeout: float, body_timeout: float) -> type[DeadlineHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` option, with these deadlines (seconds)."""
    return type(
        "DeadlineHttpToolsProtocol",
        (DeadlineHttpToolsProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
