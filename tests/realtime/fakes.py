"""In-memory stand-ins for the database, to drive the hub through exact interleavings."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from app.realtime.events import EndEvent, Event, FeedEvent, MessageEvent
from app.realtime.hub import Hub
from app.realtime.subscription import Subscription
from app.store.errors import NotFoundError, UnavailableError
from app.store.models import Message


class FakeSource:
    """A MessageSource over dicts: per-conversation messages and last_seq, with optional
    read latency and injected failures."""

    def __init__(self, page_size: int = 3) -> None:
        self.page_size = page_size
        self.messages: dict[str, dict[int, Message]] = {}
        self.last: dict[str, int] = {}
        self.delay = 0.0
        self.fail_next = 0
        self.reads = 0
        self.reading = asyncio.Event()  # set when a read begins: a test can act in the middle of it

    def create(self, cid: str) -> None:
        self.messages[cid] = {}
        self.last[cid] = 0

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
        )
        self.messages[cid][seq] = message
        return message

    def clear(self, cid: str) -> None:
        self.messages[cid].clear()

    def delete(self, cid: str) -> None:
        self.messages.pop(cid, None)
        self.last.pop(cid, None)

    async def _io(self, cid: str) -> None:
        self.reads += 1
        self.reading.set()
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow database: reads overlap what the test does
        if self.fail_next:
            self.fail_next -= 1
            raise UnavailableError("database unavailable (injected)")
        if cid not in self.last:
            raise NotFoundError(f"conversation {cid} not found or expired", sqlstate="P0002")

    async def last_seq(self, conversation_id: str) -> int:
        await self._io(conversation_id)
        return self.last[conversation_id]

    async def window(self, conversation_id: str, after: int, upto: int) -> tuple[list[Message], int]:
        assert 1 <= upto - after <= self.page_size, (after, upto)
        await self._io(conversation_id)
        stored = self.messages[conversation_id]
        return [stored[s] for s in range(after + 1, upto + 1) if s in stored], self.last[conversation_id]


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
