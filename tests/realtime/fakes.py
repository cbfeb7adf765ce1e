"""In-memory stand-ins for the database, to drive the hub through exact interleavings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from app.realtime.events import EndEvent, Event, FeedEvent, MessageEvent
from app.realtime.hub import Hub
from app.realtime.subscription import Subscription
from app.store.errors import NotFoundError, UnavailableError
from app.store.models import Message, StreamWindow


class FakeSource:
    """A MessageSource over dicts: per-conversation messages and last_seq, with optional
    read latency and injected failures."""

    def __init__(self, page_size: int = 3) -> None:
        self.page_size = page_size
        self.messages: dict[str, dict[int, Message]] = {}
        self.last: dict[str, int] = {}
        # The row behind each id (ids are reused: create() after delete() is another row).
        self.rows: dict[str, tuple[uuid.UUID, uuid.UUID | None, datetime]] = {}
        self.delay = 0.0
        self.fail_next = 0
        self.reads = 0
        self.reading = asyncio.Event()  # set when a read begins: a test can act in the middle of it
        self.hold: asyncio.Event | None = None  # while set to an unset event, reads wait for it

    def create(self, cid: str, owner: uuid.UUID | None = None) -> uuid.UUID:
        """A new conversation row behind `cid` (owned by `owner`); returns its row id."""
        self.messages[cid] = {}
        self.last[cid] = 0
        row = uuid.uuid4()
        self.rows[cid] = (row, owner, datetime.now(UTC))
        return row

    def append(self, cid: str, content: str | None = None) -> Message:
        seq = self.last[cid] + 1
        self.last[cid] = seq
        message = Message(
            id=uuid.uuid4(),
            conversation_id=cid,
            seq=seq,
            role="user",
            content=content or f"message {seq}",
            metadata={},
            created_at=datetime.now(UTC),
            user_id=self.rows[cid][1],
        )
        self.messages[cid][seq] = message
        return message

    def clear(self, cid: str) -> None:
        self.messages[cid].clear()

    def delete(self, cid: str) -> uuid.UUID:
        """Removes the conversation; returns the row id it had."""
        self.messages.pop(cid, None)
        self.last.pop(cid, None)
        return self.rows.pop(cid)[0]

    async def _read(self, cid: str, messages: Callable[[], list[Message]]) -> StreamWindow:
        """A read sees the state as it starts (its snapshot), then takes `delay` (or waits for
        `hold`): what changes meanwhile is the next read's."""
        self.reads += 1
        if self.fail_next:
            self.fail_next -= 1
            raise UnavailableError("database unavailable (injected)")
        if cid not in self.last:
            raise NotFoundError(f"conversation {cid} not found or expired", sqlstate="P0002")
        row, owner, created = self.rows[cid]
        snapshot = StreamWindow(row, owner, created, self.last[cid], messages())
        self.reading.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow database: reads overlap what the test does
        return snapshot

    async def head(self, conversation_id: str) -> StreamWindow:
        return await self._read(conversation_id, list)

    async def window(self, conversation_id: str, after: int, upto: int) -> StreamWindow:
        assert 1 <= upto - after <= self.page_size, (after, upto)

        def stored() -> list[Message]:
            kept = self.messages[conversation_id]
            return [kept[s] for s in range(after + 1, upto + 1) if s in kept]

        return await self._read(conversation_id, stored)


def announce(hub: Hub, message: Message, *, with_message: bool = True) -> None:
    """What a feed does after the commit."""
    hub.feed_event(FeedEvent(message.conversation_id, message.seq, message if with_message else None))


async def take(sub: Subscription, n: int, within: float = 2.0) -> list[Event]:
    """The next n events (fails the test if they do not come in time)."""
    events: list[Event] = []
    async with asyncio.timeout(within):
        while len(events) < n:
            event = await sub.get()
            assert event is not None
            events.append(event)
            if isinstance(event, EndEvent):
                break
    return events


def seqs(events: list[Event]) -> list[int]:
    return [e.seq for e in events if isinstance(e, MessageEvent)]
