"""Reading messages back by sequence number: what the hub uses to replay and to catch up.

Two reads over the store's own function get_conversation (one SQL call each, as the service):
`head` (no messages) and `window` (the messages in a seq range). A window (after, upto] of at
most `page_size` seqs is read as "the newest upto-after messages before upto+1": seq is never
reused and at most upto-after messages can lie in the range, so they are all in that page,
holes (cleared messages) or not. The same call returns, from the same snapshot, the
conversation's last_seq (where it ends; everything up to it is committed) and the row behind
the id (`StreamWindow.row_id`): a conversation id is reused once its conversation is deleted or
expires, and a stream must never read on into the next conversation of that id.

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

import msgspec

from app.realtime.backoff import Backoff
from app.store.errors import NotFoundError
from app.store.manager import ConversationManager
from app.store.models import Message, StreamWindow

__all__ = ["MessageSource", "Page", "Pages", "StoreSource", "WindowRead"]

log = logging.getLogger("app.realtime")

WindowRead = Callable[[int, int], Awaitable[tuple[list[Message], int]]]
"""(after, upto) -> the messages with after < seq <= upto and the conversation's last_seq."""


class MessageSource(Protocol):
    """Where replays and catch-ups read from."""

    page_size: int

    async def head(self, conversation_id: str) -> StreamWindow:
        """The row behind the id and the highest seq it handed out (0 before the first
        message); no messages."""
        ...

    async def window(self, conversation_id: str, after: int, upto: int) -> StreamWindow:
        """The messages with after < seq <= upto (upto - after <= page_size), oldest first,
        with the row and the last_seq seen by the same read."""
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

    async def head(self, conversation_id: str) -> StreamWindow:
        return await self.manager.get_stream_window(conversation_id, 0)

    async def window(self, conversation_id: str, after: int, upto: int) -> StreamWindow:
        size = upto - after
        if not 1 <= size <= self.page_size:
            raise ValueError(f"window ({after}, {upto}] must hold 1 to {self.page_size} seqs")
        page = await self.manager.get_stream_window(conversation_id, size, before=upto + 1)
        return msgspec.structs.replace(page, messages=[m for m in page.messages if m.seq > after])


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
