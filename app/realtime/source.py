"""Reading messages back by sequence number: what the hub uses to replay and to catch up.

Two reads over the store's own functions (one SQL call each, as the service):
`last_seq` (get_conversation with no messages) and `window` (get_conversation with the
messages in a seq range). A window (after, upto] of at most `page_size` seqs is read as "the
newest upto-after messages before upto+1": seq is never reused and at most upto-after
messages can lie in the range, so they are all in that page, holes (cleared messages) or
not. The same call returns the conversation's last_seq from the same snapshot, which tells
the reader where the conversation ends and that everything up to it is committed.

Both raise NotFoundError when the conversation was deleted or has expired.
"""

from __future__ import annotations

from typing import Protocol

from app.store.manager import ConversationManager
from app.store.models import Message

__all__ = ["MessageSource", "StoreSource"]


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
