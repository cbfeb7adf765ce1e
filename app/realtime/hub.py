"""The hub: fans new messages out to subscribers, per conversation, with gap-free resume.

One hub per API process. It is the feed's sink and keeps one *topic* per conversation that
has subscribers. A topic knows `head`, the highest seq it has published, and publishes
strictly in seq order: a feed event for head+1 that carries its message is published at once;
anything else (a message the feed could not carry, a gap after a reconnect) makes the topic
read the missing range from the database (one read per topic, not per subscriber).

A subscription is `replay, then live`:

1. it registers with the topic first, so every message published from then on is buffered;
2. it takes the topic's head H at that moment (for a new topic: the conversation's last_seq,
   read once), and replays (after_seq, H] from the database, page by page as the consumer
   reads them;
3. it then appends the buffered live messages with seq > the last one replayed, and stays
   live. Every message <= H was committed before H was read, every one > H is published by
   the topic after registration: the union has no gap, and deduplication by seq removes the
   overlap.

The topic's catch-up and the subscription's replay read the database the same way
(`app.realtime.source.Pages`: window by window, a failed read retried with backoff and
jitter). Catch-up reads share `read_concurrency` slots across topics; a slot is held for one
read, never across a backoff delay. The subscription sees its topic only as a `TopicLink`,
and the topic drives it only through `begin()`, `offer()` and `finish()`.

Memory is bounded. A live subscriber's queue holds at most `queue_size` events; a consumer
that falls further behind is disconnected with an `overflow` end event carrying the last
seq it received (it resumes from there). While replaying, the live buffer is only a
shortcut: when it fills it is dropped and the replay simply reads further.

A topic is bound to the conversation's row, not to its id string: ids are reused once a
conversation is deleted or expires, and the next conversation of that id may be another
user's. The topic learns the row (its id, owner and creation time) from its first read, and
every later read checks it: a read that finds another row behind the id ends the topic. A feed
message is published straight away only when the topic's row was confirmed by a read since the
feed last (re)connected, and the message is plausibly that row's (same owner, not older than
the row); anything else is only a hint that makes the topic read the database. A subscriber
authorised for one row never joins the topic of another (see `subscribe`).

A conversation that is deleted or expires ends its streams with a `gone` end event: a deletion
as soon as the feed reports it (`feed_deleted`: in commit order, before anything a later
conversation of the same id stores), otherwise at the next database read of the topic, which
happens on every feed reconnect and every `check_interval` seconds (every
`degraded_check_interval` while the feed is down, so the stream still moves, by polling, when
Realtime is unavailable).

Everything runs on the event loop without locks: a topic's state only changes between awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from app.realtime.backoff import Backoff
from app.realtime.errors import HubClosedError, TooManySubscribersError
from app.realtime.events import EndReason, FeedEvent, MessageEvent
from app.realtime.feed import Feed, TurnFeedSink
from app.realtime.source import MessageSource, Pages, WindowRead
from app.realtime.subscription import Subscription
from app.store.errors import NotFoundError
from app.store.models import Message, StreamWindow

__all__ = ["Hub", "HubStats", "Topic"]

log = logging.getLogger("app.realtime")


class _Recreated(NotFoundError):
    """Another row stands behind the topic's conversation id (or its last_seq went below what
    was published): the conversation the topic is bound to was deleted and one of the same id
    created. A NotFoundError, so reads end on it (never retried) and a stream ends `gone`."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} not found or expired", sqlstate="P0002")


@dataclass(frozen=True, slots=True)
class HubStats:
    """Counters for health and metrics endpoints."""

    running: bool
    feed: str
    feed_connected: bool
    topics: int
    subscribers: int
    published: int
    overflows: int
    catch_up_reads: int
    feed_sessions: int = 0
    feed_lag_seconds: float | None = None


class Hub:
    """Per-conversation fan-out of new messages; see the module docstring."""

    def __init__(
        self,
        source: MessageSource,
        feed: Feed | None = None,
        *,
        queue_size: int = 256,
        check_interval: float = 30.0,
        degraded_check_interval: float = 2.0,
        max_subscribers: int = 10_000,
        read_concurrency: int = 8,
        retry: Callable[[], Backoff] | None = None,
    ) -> None:
        if queue_size < 2:
            raise ValueError("queue_size must be at least 2")
        self.source = source
        self.feed = feed
        self.queue_size = queue_size
        self.check_interval = check_interval
        self.degraded_check_interval = degraded_check_interval
        self.max_subscribers = max_subscribers
        self.read_concurrency = read_concurrency
        self._retry = retry or (lambda: Backoff(0.2, 5.0))
        self._topics: dict[str, Topic] = {}
        self._bound: dict[UUID, Topic] = {}  # topics by the row they are bound to
        self._reads: asyncio.Semaphore | None = None
        self._checker: asyncio.Task[None] | None = None
        self._running = False
        self.subscribers = 0
        self.published = 0
        self.overflows = 0
        self.catch_up_reads = 0
        self.feed_lag: float | None = None  # of the last message the feed carried
        # The turn streams (app.turns.streams), when the app attached them: the feed hands them
        # the batches of the turns' streams and the stops asked for, and this hub its reconnects.
        self.turns: TurnFeedSink | None = None

    # -- lifespan ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Start the feed (in the background: the database may still be down) and the
        periodic check. Call once, from the application's lifespan."""
        if self._running:
            return
        self._running = True
        self._reads = asyncio.Semaphore(self.read_concurrency)
        if self.feed is not None:
            await self.feed.start(self)
        self._checker = asyncio.create_task(self._check_loop(), name="realtime-hub-check")

    async def stop(self) -> None:
        """End every stream with a `shutdown` event, then stop the feed."""
        if not self._running:
            return
        self._running = False
        checker, self._checker = self._checker, None
        if checker is not None:
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker
        for topic in list(self._topics.values()):
            topic.end("shutdown")
        if self.feed is not None:
            await self.feed.stop()

    def new_backoff(self) -> Backoff:
        """The retry delays of one catch-up or replay that meets an unavailable database."""
        return self._retry()

    def stats(self) -> HubStats:
        return HubStats(
            running=self._running,
            feed=self.feed.name if self.feed is not None else "off",
            feed_connected=self.feed.connected if self.feed is not None else False,
            topics=len(self._topics),
            subscribers=self.subscribers,
            published=self.published,
            overflows=self.overflows,
            catch_up_reads=self.catch_up_reads,
            feed_sessions=self.feed.sessions if self.feed is not None else 0,
            feed_lag_seconds=self.feed_lag,
        )

    # -- subscribing ---------------------------------------------------------------------
    async def subscribe(
        self,
        conversation_id: str,
        after_seq: int | None = None,
        *,
        row: UUID | None = None,
        queue_size: int | None = None,
    ) -> Subscription:
        """A stream of the conversation's messages with seq > after_seq (None: only new ones).
        An after_seq beyond the conversation's last seq starts the stream with a ResetEvent
        and replays it from the start (never silence: see ResetEvent).

        `row` is the conversation row the caller was authorised for (StreamWindow.row_id, read
        as the caller): the stream is bound to it. A topic still bound to an earlier row of the
        id is ended (`gone`) and replaced; if the caller's row is no longer the one behind the
        id, NotFoundError. The caller must have checked that its user may read the row.

        Returns once the stream is positioned; the replay itself is read as the consumer
        iterates. Raises NotFoundError (deleted or expired conversation) or UnavailableError
        (database down) from the store, HubClosedError, TooManySubscribersError.
        """
        if not self._running:
            raise HubClosedError("the realtime hub is not running")
        if after_seq is not None and after_seq < 0:
            raise ValueError("after_seq must be >= 0")
        if self.subscribers >= self.max_subscribers:
            raise TooManySubscribersError(f"the hub serves its maximum of {self.max_subscribers} subscribers")
        for attempt in range(2):
            topic = self._topics.get(conversation_id)
            if topic is None:
                topic = self._topics[conversation_id] = Topic(self, conversation_id)
            sub = topic.join(after_seq, queue_size or self.queue_size)
            try:
                head = topic.head if topic.head is not None else await asyncio.shield(topic.ready)
                if row is not None and topic.row != row:
                    sub.close()
                    # One of the two reads is stale: a third, now, says which row is current.
                    if attempt or (await self.source.head(conversation_id)).row_id != row:
                        raise NotFoundError(
                            f"conversation {conversation_id} not found or expired", sqlstate="P0002"
                        )
                    topic.end("gone")  # bound to an earlier conversation of this id
                    continue
                if after_seq is not None and after_seq > head:
                    # Beyond what the topic published; it may lag the database by the feed's delay.
                    last = (await self.source.head(conversation_id)).last_seq
                    if after_seq > last:
                        sub.reset(last)
            except BaseException:
                sub.close()
                raise
            sub.begin(head)
            return sub
        raise AssertionError("unreachable: the second attempt returns or raises")  # pragma: no cover

    # -- FeedSink ------------------------------------------------------------------------
    def feed_event(self, event: FeedEvent) -> None:
        topic = self._topics.get(event.conversation_id)
        if topic is not None:
            topic.on_event(event)

    def feed_resumed(self) -> None:
        for topic in list(self._topics.values()):
            topic.resync()
        if self.turns is not None:
            self.turns.feed_resumed()

    def feed_deleted(self, rows: Iterable[tuple[UUID, str | None]]) -> None:
        """Conversation rows were deleted, as (row id, conversation id): their streams end
        `gone`. A topic of that id still reading its row reads again once it has it."""
        for row_id, conversation_id in rows:
            bound = self._bound.get(row_id)
            if bound is not None:
                bound.end("gone")
                continue
            reading = self._topics.get(conversation_id) if conversation_id is not None else None
            if reading is not None and reading.row is None:
                reading.resync()  # still reading its row: it may be this one

    def feed_changed(self, conversation_id: str) -> None:
        """Messages of the conversation were deleted (a clear, say): its topic reads it again,
        which also checks that the row it is bound to is still the one behind the id."""
        topic = self._topics.get(conversation_id)
        if topic is not None:
            topic.resync()

    def watching(self, conversation_id: str) -> bool:
        return conversation_id in self._topics

    # -- internals -----------------------------------------------------------------------
    def _read_slot(self) -> asyncio.Semaphore:
        if self._reads is None:
            self._reads = asyncio.Semaphore(self.read_concurrency)
        return self._reads

    def _forget(self, topic: Topic) -> None:
        if self._topics.get(topic.conversation_id) is topic:
            del self._topics[topic.conversation_id]
        if topic.row is not None and self._bound.get(topic.row) is topic:
            del self._bound[topic.row]

    async def _check_loop(self) -> None:
        """Re-reads every topic's position now and then: finds deleted and expired
        conversations, and anything a feed failed to deliver."""
        while True:
            connected = self.feed is not None and self.feed.connected
            await asyncio.sleep(self.check_interval if connected else self.degraded_check_interval)
            for topic in list(self._topics.values()):
                topic.resync()


class Topic:
    """The subscribers of one conversation and the position published to them (internal).

    It is the `TopicLink` of its subscriptions: `pages()`, `overflowed()`, `leave()`."""

    __slots__ = (
        "_init_task",
        "_sync_task",
        "closed",
        "confirmed",
        "conversation_id",
        "created",
        "head",
        "hub",
        "owner",
        "pending",
        "ready",
        "row",
        "stale",
        "subs",
        "target",
    )

    def __init__(self, hub: Hub, conversation_id: str) -> None:
        self.hub = hub
        self.conversation_id = conversation_id
        self.head: int | None = None
        self.subs: set[Subscription] = set()
        self.pending: list[FeedEvent] = []
        self.target = 0  # highest seq a feed reported and not yet published
        self.stale = False  # something may have been missed: read from head on
        self.closed = False
        # The row the topic is bound to, from its first read; `confirmed`: a read found it
        # behind the id since the feed last (re)connected, so the feed's messages may be
        # published without a read.
        self.row: UUID | None = None
        self.owner: UUID | None = None
        self.created: float = 0.0
        self.confirmed = False
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        # A failed start is reported to the subscribers waiting; with none, it is not an error.
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._sync_task: asyncio.Task[None] | None = None
        self._init_task: asyncio.Task[None] | None = asyncio.create_task(self._init())

    async def _init(self) -> None:
        try:
            async with self.hub._read_slot():
                first = await self.hub.source.head(self.conversation_id)
        except BaseException as exc:
            if not self.ready.done():
                failure = exc if isinstance(exc, Exception) else HubClosedError("topic closed")
                self.ready.set_exception(failure)
            self.close()
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._init_task = None
        self.row, self.owner, self.created = first.row_id, first.user_id, first.created_at.timestamp()
        self.hub._bound[first.row_id] = self
        self.confirmed = not self.stale  # a deletion of this id reported meanwhile: read again
        self.head = first.last_seq
        self.ready.set_result(first.last_seq)
        pending, self.pending = self.pending, []
        for event in sorted(pending, key=lambda e: e.seq):
            self.on_event(event)
        if self.stale:
            self._ensure_sync()

    def on_event(self, event: FeedEvent) -> None:
        if self.closed:
            return
        if self.head is None:
            if len(self.pending) < self.hub.queue_size:
                self.pending.append(event)
            else:
                self.stale = True
            return
        if event.seq <= self.head:
            return
        if event.seq == self.head + 1 and event.message is not None and self._owns(event.message):
            # Commit to delivery, as far as one clock can tell: the row's created_at is set in
            # its transaction, so a long transaction adds its own length.
            self.hub.feed_lag = max(0.0, time.time() - event.message.created_at.timestamp())
            self._publish(event.message)
        else:
            self.target = max(self.target, event.seq)
            self._ensure_sync()

    def _owns(self, message: Message) -> bool:
        """Whether a feed message may be published without a read: the row was confirmed
        since the feed last (re)connected, and the message has the row's owner and is not
        older than the row (a message of an earlier conversation of the id fails one)."""
        return (
            self.confirmed
            and message.user_id == self.owner
            and message.created_at.timestamp() >= self.created
        )

    def resync(self) -> None:
        """Something may have been missed (feed reconnected, periodic check): read from head,
        and publish the feed's messages only once that read confirmed the row."""
        if self.closed:
            return
        self.stale = True
        self.confirmed = False
        if self.head is not None:
            self._ensure_sync()

    def _publish(self, message: Message) -> None:
        self.head = message.seq
        self.hub.published += 1
        event = MessageEvent(message)
        for sub in tuple(self.subs):  # an overflowing subscriber leaves meanwhile
            sub.offer(event)

    def _ensure_sync(self) -> None:
        if self.closed or (self._sync_task is not None and not self._sync_task.done()):
            return
        self._sync_task = asyncio.create_task(self._sync(), name=f"realtime-sync-{self.conversation_id}")

    async def _sync(self) -> None:
        while not self.closed and self.head is not None and (self.stale or self.target > self.head):
            self.stale = False
            try:
                await self._catch_up(self.head)
            except NotFoundError:  # _Recreated included
                self.end("gone")
                return

    async def _catch_up(self, head: int) -> None:
        """Publishes every stored message after head, in windows of the source's page size."""
        pages = Pages(
            self._read,
            head,
            max(self.target, head + 1),
            step=self.hub.source.page_size,
            backoff=self.hub.new_backoff(),
            what=f"catching up {self.conversation_id}",
        )
        async for page in pages:
            if self.closed or self.head is None:
                return
            if page.last < page.after:
                raise _Recreated(self.conversation_id)
            for message in page.messages:
                if message.seq > self.head:
                    self._publish(message)
            # Every seq <= min(upto, last) is committed and was read: the ones not returned
            # were deleted (a cleared conversation) and are skipped.
            self.head = max(self.head, min(page.upto, page.last))
            pages.after, pages.upto = self.head, page.last

    async def _read(self, after: int, upto: int) -> tuple[list[Message], int]:
        """One window of the catch-up, in one of the hub's read slots. A report of a seq that
        no read can confirm (the conversation ends before it) is dropped. Raises _Recreated
        when another row stands behind the id."""
        target = self.target
        self.hub.catch_up_reads += 1
        async with self.hub._read_slot():
            window = self._check(await self.hub.source.window(self.conversation_id, after, upto))
        if target > window.last_seq and self.target == target:
            self.target = window.last_seq
        if not self.stale:
            self.confirmed = True
        return window.messages, window.last_seq

    def _check(self, window: StreamWindow) -> StreamWindow:
        if window.row_id != self.row:
            raise _Recreated(self.conversation_id)
        return window

    async def _replay_read(self, after: int, upto: int) -> tuple[list[Message], int]:
        """One window of a subscriber's replay: the row checked like the topic's own reads,
        a different one ending that stream as `gone`."""
        window = self._check(await self.hub.source.window(self.conversation_id, after, upto))
        return window.messages, window.last_seq

    # -- TopicLink -----------------------------------------------------------------------
    def join(self, after_seq: int | None, queue_size: int) -> Subscription:
        """A new subscription, registered at once: it is offered every message from now on."""
        sub = Subscription(self, after_seq, queue_size)
        self.subs.add(sub)
        self.hub.subscribers += 1
        return sub

    def pages(self, after: int, upto: int, *, step: int) -> Pages:
        source = self.hub.source
        read: WindowRead = self._replay_read
        return Pages(
            read,
            after,
            upto,
            step=min(step, source.page_size),
            backoff=self.hub.new_backoff(),
            what=f"replay of {self.conversation_id}",
        )

    def overflowed(self, subscription: Subscription) -> None:
        self.hub.overflows += 1

    def leave(self, subscription: Subscription) -> None:
        self.hub.subscribers -= 1
        self.subs.discard(subscription)
        if not self.subs:
            self.close()

    def end(self, reason: EndReason) -> None:
        """Ends every subscriber's stream with `reason` and forgets the topic."""
        for sub in tuple(self.subs):
            sub.finish(reason)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.hub._forget(self)
        if not self.ready.done():
            self.ready.set_exception(HubClosedError("the conversation's stream was closed"))
        current = asyncio.current_task()
        for task in (self._init_task, self._sync_task):
            if task is not None and task is not current:
                task.cancel()
