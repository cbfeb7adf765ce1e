"""Reading server-sent events (`text/event-stream`) the way a browser's EventSource does:
whole bodies (`parse_sse`, `sse_json`), a streaming response as it arrives (`read_sse`), or
one event at a time with a deadline (`SseReader`).

One parser (`SseParser`) under all of them, following the WHATWG rules the API relies on: a
blank line dispatches the event; `event:` names it (`message` when absent); `data:` lines are
joined by newlines; `id:` sets the id; one space after the colon is dropped; `retry:` and
comments (`:` lines) carry no event, though a reader may ask to see comments (heartbeats).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import httpx

__all__ = ["COMMENT", "SseEvent", "SseParser", "SseReader", "parse_sse", "read_sse", "sse_json"]

# The event name a comment line reads as, for readers that keep comments.
COMMENT = "comment"


class SseEvent(NamedTuple):
    event: str
    data: str
    id: str | None


class SseParser:
    """Lines in, events out: `feed(line)` returns the event a line completes, or None.

    With `comments`, a comment line is an event of its own: (COMMENT, its text, None)."""

    def __init__(self, *, comments: bool = False) -> None:
        self.comments = comments
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event, self._id = "message", None
                return None
            event = SseEvent(self._event, "\n".join(self._data), self._id)
            self._event, self._data, self._id = "message", [], None
            return event
        if line.startswith(":"):
            return SseEvent(COMMENT, line[1:].strip(), None) if self.comments else None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            self._id = value
        return None


def parse_sse(text: str) -> list[SseEvent]:
    """The events of a whole body (a response the test client buffered)."""
    parser = SseParser()
    lines = text.replace("\r\n", "\n").split("\n")
    events = [parser.feed(line) for line in [*lines, ""]]
    return [event for event in events if event is not None]


def sse_json(text: str) -> list[tuple[str, Any]]:
    """The events of a whole body as (event, its JSON data decoded) pairs."""
    return [(event.event, json.loads(event.data)) for event in parse_sse(text)]


async def read_sse(response: httpx.Response, *, comments: bool = False) -> AsyncIterator[SseEvent]:
    """The events of a streaming response, as they arrive."""
    parser = SseParser(comments=comments)
    async for line in response.aiter_lines():
        event = parser.feed(line)
        if event is not None:
            yield event


class SseReader:
    """One event at a time from a streaming response, each within a deadline (a test fails
    rather than hangs when the server sends nothing). Comments (heartbeats) are events here."""

    def __init__(self, response: httpx.Response) -> None:
        self._events = read_sse(response, comments=True)

    async def next(self, wait: float = 5.0) -> SseEvent:
        try:
            async with asyncio.timeout(wait):
                return await anext(self._events)
        except StopAsyncIteration:
            raise AssertionError("stream ended") from None
