"""Server-sent events for a subscription: what GET /conversations/{id}/events streams.

Kept here, next to the hub, so the controller only authorizes, subscribes and returns
`Stream(sse_stream(subscription), media_type="text/event-stream", headers=SSE_HEADERS)`.

The wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html):

    retry: 2000                       first, how long a browser waits before reconnecting

    id: 42                            one per message; a browser sends it back as
    event: message                    Last-Event-ID when it reconnects
    data: {"id": ..., "seq": 42, ...}

    : heartbeat                       a comment after `heartbeat` seconds of silence

    event: overflow | gone | shutdown the last event, then the stream ends
    data: {"reason": ..., "conversation_id": ..., "last_seq": 41, "message": ...}

End events carry no `id`, so Last-Event-ID stays the last message's seq.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from app.realtime.errors import SubscriptionClosedError
from app.realtime.events import EndEvent, Event, MessageEvent
from app.realtime.subscription import Subscription

__all__ = ["HEARTBEAT", "SSE_HEADERS", "encode_event", "parse_last_event_id", "sse_stream"]

HEARTBEAT = b": heartbeat\n\n"

# No caching, no proxy buffering (nginx honours X-Accel-Buffering), no transformation.
SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}


def encode_event(event: Event) -> bytes:
    """One event in the SSE wire format (JSON never contains a raw newline)."""
    if isinstance(event, MessageEvent):
        return b"id: %d\nevent: message\ndata: %s\n\n" % (event.seq, event.data)
    assert isinstance(event, EndEvent)
    return b"event: %s\ndata: %s\n\n" % (event.reason.encode(), event.data)


def parse_last_event_id(value: str | None) -> int | None:
    """A Last-Event-ID header as a seq: None when absent, empty or not a non-negative integer
    (the spec lets browsers send anything the server put in `id:`; we only put integers)."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 19 else None


async def sse_stream(
    subscription: Subscription, *, heartbeat: float = 15.0, retry_ms: int | None = 2000
) -> AsyncGenerator[bytes, None]:
    """The subscription as SSE chunks; closes it when the client goes away or the stream ends."""
    try:
        if retry_ms is not None:
            yield b"retry: %d\n\n" % retry_ms
        while True:
            try:
                event = await subscription.get(timeout=heartbeat)
            except SubscriptionClosedError:  # closed by the server (hub stopped) meanwhile
                return
            if event is None:
                yield HEARTBEAT
                continue
            yield encode_event(event)
            if isinstance(event, EndEvent):
                return
    finally:
        subscription.close()
