"""Server-sent events for a subscription: what GET /conversations/{id}/events streams.

Kept here, next to the hub, so the controller only authorizes, subscribes and returns
`ServerSentEvent(sse_events(subscription), headers=SSE_HEADERS)`. Litestar writes the wire
format; each event renders itself (`Event.sse`, see app.realtime.events). The stream is

    retry: 2000                       first, how long a browser waits before reconnecting
    <message events>                  one per message, `id` = its seq
    : heartbeat                       a comment after `heartbeat` seconds of silence
    <one end event>                   overflow | gone | shutdown | expired, then the stream ends

(https://html.spec.whatwg.org/multipage/server-sent-events.html).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

from litestar.response import ServerSentEventMessage

from app.realtime.errors import SubscriptionClosedError
from app.realtime.events import SSE_SEPARATOR, EndEvent
from app.realtime.subscription import Subscription

__all__ = ["HEARTBEAT", "SSE_HEADERS", "parse_last_event_id", "sse_events"]

HEARTBEAT = ServerSentEventMessage(data=None, comment="heartbeat", sep=SSE_SEPARATOR)

# No caching, no proxy buffering (nginx honours X-Accel-Buffering), no transformation.
SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}


def parse_last_event_id(value: str | None) -> int | None:
    """A Last-Event-ID header as a seq: None when absent or empty. Raises ValueError for
    anything but ASCII digits (we only ever put integers in `id:`; str.isdigit() would take
    "²"). A number past int64 is returned as it is: it lies beyond every conversation's last
    seq, so the stream starts with a reset (see app.realtime.events.ResetEvent)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValueError("Last-Event-ID must be the id (seq) of an event (ASCII digits)")
    return int(value)


async def sse_events(
    subscription: Subscription,
    *,
    heartbeat: float = 15.0,
    retry_ms: int | None = 2000,
    expires_at: float | None = None,
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """The subscription as server-sent events; closes it when the client goes away or the
    stream ends. `expires_at` (a Unix time: the `exp` of the token the stream was opened
    with) ends it with an `expired` event then, as Supabase Realtime closes a channel whose
    token expired: a stream must not outlive the right to read it."""
    try:
        if retry_ms is not None:
            yield ServerSentEventMessage(data=None, retry=retry_ms, sep=SSE_SEPARATOR)
        while True:
            wait = heartbeat
            if expires_at is not None:
                left = expires_at - time.time()
                if left <= 0:
                    yield EndEvent("expired", subscription.conversation_id, subscription.last_seq).sse
                    return
                wait = min(wait, left)
            try:
                event = await subscription.get(timeout=wait)
            except SubscriptionClosedError:  # closed by the server (hub stopped) meanwhile
                return
            if event is None:
                if expires_at is None or time.time() < expires_at:
                    yield HEARTBEAT
                continue
            yield event.sse
            if isinstance(event, EndEvent):
                return
    finally:
        subscription.close()
