"""A subscriber's stream: replay from the database, then live, with a bounded queue.

The hub (app.realtime.hub) decides what is published, in order; a Subscription decides what
its consumer sees: it registers before the topic's position is read, replays (after_seq,
position] page by page as the consumer reads, holds back live messages meanwhile, then
appends those with a higher seq and stays live. See the hub's docstring for why that is
gap-free and duplicate-free, and how memory stays bounded.

The seam between the two is narrow and public. A subscription sees its topic only as a
`TopicLink` (its conversation, a way to page through stored messages, where to report an
overflow and its leaving); the topic drives a subscription only through `begin()`,
`offer()` and `finish()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from types import TracebackType
from typing import Protocol

from app.realtime.errors import SubscriptionClosedError
from app.realtime.events import EndEvent, EndReason, Event, MessageEvent, ResetEvent
from app.realtime.source import Pages
from app.store.errors import NotFoundError

__all__ = ["Subscription", "TopicLink"]

log = logging.getLogger("app.realtime")


class TopicLink(Protocol):
    """What a subscription needs from the topic it belongs to."""

    @property
    def conversation_id(self) -> str: ...

    def pages(self, after: int, upto: int, *, step: int) -> Pages:
        """The stored messages (after, upto], page by page, at most `step` seqs a page."""
        ...

    def overflowed(self, subscription: Subscription) -> None:
        """The subscriber fell too far behind and is being disconnected (for the counters)."""

    def leave(self, subscription: Subscription) -> None:
        """The subscription ended: publish nothing more to it. Called once per subscription."""


class Subscription:
    """One subscriber's stream: an async iterator of MessageEvent, then at most one EndEvent.

    `get(timeout)` is the same with a timeout (None when it passes: time for a heartbeat).
    Close it when the client goes away (`close()`, or use it as an async context manager).
    """

    __slots__ = (
        "_after",
        "_attached",
        "_buf",
        "_closed",
        "_ended",
        "_last_queued",
        "_last_taken",
        "_link",
        "_out",
        "_queue_size",
        "_replay_task",
        "_replay_upto",
        "_space",
        "_waiter",
        "conversation_id",
        "replayed",
    )

    def __init__(self, link: TopicLink, after_seq: int | None, queue_size: int) -> None:
        if queue_size < 2:
            raise ValueError("queue_size must be at least 2")
        self.conversation_id = link.conversation_id
        self._link = link
        self._after = after_seq
        self._queue_size = queue_size
        self._out: deque[Event] = deque()
        self._buf: deque[MessageEvent] | None = deque()  # live messages held back until replayed
        self._last_queued = after_seq or 0
        self._last_taken = after_seq or 0
        self._replay_upto = 0
        self._replay_task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._space: asyncio.Event | None = None
        self._ended = False
        self._closed = False
        self._attached = True
        self.replayed = 0

    # -- consumer side -------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        """The seq of the last message handed to the consumer (its resume point)."""
        return self._last_taken

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def live(self) -> bool:
        """True once the replay is done and new messages flow straight to the queue."""
        return self._buf is None and not self._ended

    @property
    def queued(self) -> int:
        return len(self._out)

    async def get(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        """The next event, or None if none arrives within `timeout` seconds.
        Raises SubscriptionClosedError after the end event was taken or close() was called."""
        if self._closed:
            raise SubscriptionClosedError(f"subscription to {self.conversation_id} is closed")
        if not self._out:
            if timeout is not None and timeout <= 0:
                return None
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
            if self._closed:
                raise SubscriptionClosedError(f"subscription to {self.conversation_id} is closed")
            if not self._out:
                return None
        event = self._out.popleft()
        if isinstance(event, EndEvent):
            self._closed = True
            self._detach()
        elif isinstance(event, MessageEvent):
            self._last_taken = event.seq
        if self._space is not None and len(self._out) <= self._queue_size // 2:
            self._space.set()
        return event

    def close(self) -> None:
        """The consumer is gone: stop buffering and replaying. Idempotent."""
        if self._closed and not self._attached:
            return
        self._closed = True
        self._ended = True
        self._out.clear()
        self._buf = None
        self._cancel_replay()
        self._detach()
        self._wake()

    async def aclose(self) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        try:
            event = await self.get()
        except SubscriptionClosedError:  # closed by close() while waiting
            raise StopAsyncIteration from None
        if event is None:  # only a close() from elsewhere wakes get() without an event
            raise StopAsyncIteration
        return event

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "live" if self.live else "replaying"
        return (
            f"<Subscription {self.conversation_id} {state} "
            f"last_seq={self._last_taken} queued={len(self._out)}>"
        )

    # -- topic side ----------------------------------------------------------------------
    def begin(self, head: int) -> None:
        """Positions the stream once the topic knows its head: replay (after_seq, head]
        first when needed, else go live. Messages offered before are held back meanwhile."""
        if self._ended:
            return
        start = head if self._after is None else self._after
        self._last_queued = self._last_taken = start
        upto = max(head, self._replay_upto)
        if start < upto:
            self._replay_upto = upto
            self._replay_task = asyncio.create_task(
                self._replay(), name=f"realtime-replay-{self.conversation_id}"
            )
        else:
            self._go_live()

    def reset(self, last_seq: int) -> None:
        """The resume point lies beyond the conversation's last seq (`last_seq`): start with a
        reset event, then replay from the first message. Call before begin()."""
        if self._ended or self._after is None:
            return
        self._out.append(ResetEvent(self.conversation_id, self._after, last_seq))
        self._after = 0

    def offer(self, event: MessageEvent) -> None:
        """A message the topic published (in seq order). A consumer too far behind is
        disconnected with an `overflow` end event, and leaves the topic."""
        if self._ended:
            return
        buf = self._buf
        if buf is not None:
            if len(buf) >= self._queue_size:
                # The database has all of them: forget the buffer and replay further instead.
                buf.clear()
                self._replay_upto = max(self._replay_upto, event.seq)
            else:
                buf.append(event)
            return
        if event.seq <= self._last_queued:
            return
        if len(self._out) >= self._queue_size:
            self._overflow()
            return
        self._out.append(event)
        self._last_queued = event.seq
        self._wake()

    def finish(self, reason: EndReason) -> None:
        """Ends the stream after what is already queued (gone, shutdown), and leaves the topic."""
        if not self._ended:
            self._end(EndEvent(reason, self.conversation_id, self._last_queued))
        self._detach()

    def _go_live(self) -> None:
        buf, self._buf = self._buf, None
        for event in buf or ():
            if event.seq > self._last_queued:
                self._out.append(event)
                self._last_queued = event.seq
        self._space = None
        self._wake()

    async def _replay(self) -> None:
        """Reads (position, replay_upto] page by page, never holding more than `queue_size`
        events, and goes live once the consumer has room for what was buffered meanwhile
        (else those are read from the database too): going live with a full queue would
        overflow a consumer that is merely busy replaying."""
        low = self._queue_size // 2
        pages = self._link.pages(self._last_queued, self._replay_upto, step=max(1, self._queue_size - low))
        try:
            while not self._ended:
                async for page in pages:
                    for message in page.messages:
                        if message.seq > self._last_queued:
                            self._out.append(MessageEvent(message))
                            self._last_queued = message.seq
                            self.replayed += 1
                    if page.messages:
                        self._wake()
                    await self._room(low)
                    if self._ended:
                        return
                    pages.upto = self._replay_upto  # raised when the live buffer was dropped
                buf = self._buf
                if buf is None or len(self._out) + len(buf) <= low:
                    break
                self._replay_upto = pages.upto = max(self._replay_upto, buf[-1].seq)
                buf.clear()
        except NotFoundError:
            self.finish("gone")
            return
        finally:
            self._replay_task = None
        if not self._ended:
            self._go_live()

    async def _room(self, low: int) -> None:
        """Waits until the consumer has taken the queue down to `low` events."""
        while len(self._out) > low and not self._ended:
            self._space = self._space or asyncio.Event()
            self._space.clear()
            await self._space.wait()

    def _overflow(self) -> None:
        self._link.overflowed(self)
        log.info(
            "subscriber of %s overflowed (%d queued); disconnecting at seq %d",
            self.conversation_id,
            len(self._out),
            self._last_taken,
        )
        self._out.clear()
        self._end(EndEvent("overflow", self.conversation_id, self._last_taken))
        self._detach()

    def _end(self, event: EndEvent) -> None:
        self._ended = True
        self._buf = None
        self._cancel_replay()
        self._out.append(event)
        self._wake()

    def _cancel_replay(self) -> None:
        task, self._replay_task = self._replay_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _detach(self) -> None:
        if self._attached:
            self._attached = False
            self._link.leave(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
