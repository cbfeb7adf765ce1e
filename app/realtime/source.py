"""Reading messages back by sequence number: what the hub uses to replay and to catch up.

Two reads over the store's own functions (one SQL call each, as the service):
`last_seq` (get_conversation with no messages) and `window` (get_conversation with the
messages in a seq range). A window (after, upto] of at most `page_size` seqs is read as "the
newest upto-after messages before upto+1": seq is never reused and at most upto-after
messages can lie in the range, so they are all in that page, holes (cleared messages) or
not. The same call returns the conversation's last_seq from the same snapshot, which tells
the reader where the conversation ends and that everything up to it is committed.

Both raise NotFoundError when the conversation was deleted or has expired.

`Pages` is the one loop that reads a range (after, upto] window by window, retrying a failed
read with backoff: the topic's catch-up and the subscription's replay both use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from app.realtime.backoff import Backoff
from app.store.errors import NotFoundError
from app.store.manager import ConversationManager
from app.store.models import Message

__all__ = ["MessageSource", "Page", "Pages", "StoreSource", "WindowRead"]

log = logging.getLogger("app.realtime")

WindowRead = Callable[[int, int], Awaitable[tuple[list[Message], int]]]
"""(after, upto) -> the messages with after < seq <= upto and the conversation's last_seq."""


class MessageSource(Protocol):
    """Where replays and catch-ups read from."""

    page_size: int

    async def last_seq(self, conversation_id: str) -> int:
        """The highest seq handed out in the conversation (0 before the first message)."""
        ...

    async def window(self, conversation_id: str, after: int, upto: int) -> tuple[list[Message], int]:
        """The messages with after < seq <= upto (upto - after <= page_size), oldest first,
        and the conversation's last_seq seen by the same read."""
        ...


class StoreSource:
    """MessageSource over ConversationManager (the service principal: the API has already
    checked that the subscriber may read the conversation)."""

    __slots__ = ("manager", "page_size")

    def __init__(self, manager: ConversationManager, page_size: int = 200) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000 (the store's default max_page_size)")
        self.manager = manager
        self.page_size = page_size

    async def last_seq(self, conversation_id: str) -> int:
        page = await self.manager.get_conversation(conversation_id, limit=0)
        return page.last_seq

    async def window(self, conversation_id: str, after: int, upto: int) -> tuple[list[Message], int]:
        size = upto - after
        if not 1 <= size <= self.page_size:
            raise ValueError(f"window ({after}, {upto}] must hold 1 to {self.page_size} seqs")
        page = await self.manager.get_conversation(conversation_id, limit=size, before=upto + 1)
        return [m for m in page.messages if m.seq > after], page.last_seq


@dataclass(frozen=True, slots=True)
class Page:
    """One window read: the messages with after < seq <= upto, and the conversation's
    last_seq seen by the same read (every seq <= min(upto, last) is committed)."""

    after: int
    upto: int
    messages: list[Message]
    last: int


class Pages:
    """Reads (after, upto] page by page, oldest first, in windows of at most `step` seqs.

    The reader moves the bounds between pages: `after` to where it now stands (past what it
    has, including what arrived by other means meanwhile), `upto` to a new end (further, or
    the conversation's last_seq). Without a move, the next page starts where the last ended.
    A read that fails is retried after the backoff's next delay, for as long as the reader
    iterates; NotFoundError (the conversation is gone) is not retried but raised.
    """

    __slots__ = ("_backoff", "_read", "after", "step", "upto", "what")

    def __init__(
        self, read: WindowRead, after: int, upto: int, *, step: int, backoff: Backoff, what: str
    ) -> None:
        if step < 1:
            raise ValueError("step must be at least 1")
        self._read = read
        self._backoff = backoff
        self.after = after
        self.upto = upto
        self.step = step
        self.what = what

    def __aiter__(self) -> Pages:
        return self

    async def __anext__(self) -> Page:
        while self.after < self.upto:
            after = self.after
            upto = min(self.upto, after + self.step)
            try:
                messages, last = await self._read(after, upto)
            except NotFoundError:
                raise
            except Exception as exc:  # the database is away: try the same window again
                delay = self._backoff.next()
                log.warning("%s failed (%s); retrying in %.2f s", self.what, exc, delay)
                await asyncio.sleep(delay)
                continue
            self._backoff.reset()
            self.after = max(self.after, upto)
            return Page(after, upto, messages, last)
        raise StopAsyncIteration
