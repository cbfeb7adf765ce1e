"""What flows through the realtime layer.

A feed reports `FeedEvent`s (conversation and seq, the message when the transport carried
it). A subscriber receives `MessageEvent`s in seq order and, last, at most one `EndEvent`
that says why its stream ended. A `MessageEvent` is shared by every subscriber of its
conversation, so its JSON is encoded once, not once per subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from app.store.models import Message

__all__ = ["END_REASONS", "EndEvent", "EndReason", "Event", "FeedEvent", "MessageEvent"]

EndReason = Literal["overflow", "gone", "shutdown"]

END_REASONS: dict[EndReason, str] = {
    "overflow": "the subscriber fell too far behind and was disconnected; resume after last_seq",
    "gone": "the conversation was deleted or has expired",
    "shutdown": "the server is shutting down; resume after last_seq",
}


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A feed saw message `seq` of a conversation committed; `message` is None when the
    transport could not carry it (Realtime strips oversized records): the hub reads it."""

    conversation_id: str
    seq: int
    message: Message | None = None


class MessageEvent:
    """One stored message for subscribers; `data` is its JSON, encoded on first use."""

    __slots__ = ("_data", "message")
    kind: Literal["message"] = "message"

    def __init__(self, message: Message) -> None:
        self.message = message
        self._data: bytes | None = None

    @property
    def seq(self) -> int:
        return self.message.seq

    @property
    def conversation_id(self) -> str:
        return self.message.conversation_id

    @property
    def data(self) -> bytes:
        """The message as the API renders it everywhere (the store's model, as JSON)."""
        if self._data is None:
            self._data = msgspec.json.encode(self.message)
        return self._data

    def __repr__(self) -> str:
        return f"MessageEvent({self.message.conversation_id!r}, seq={self.message.seq})"


class _EndBody(msgspec.Struct, frozen=True):
    reason: str
    conversation_id: str
    last_seq: int
    message: str


@dataclass(frozen=True, slots=True)
class EndEvent:
    """The last event of a subscription. `last_seq` is the seq of the last message the
    subscriber received before it: a client resumes with after=last_seq."""

    reason: EndReason
    conversation_id: str
    last_seq: int
    kind: Literal["end"] = "end"

    @property
    def message(self) -> str:
        return END_REASONS[self.reason]

    @property
    def data(self) -> bytes:
        return msgspec.json.encode(_EndBody(self.reason, self.conversation_id, self.last_seq, self.message))


Event = MessageEvent | EndEvent
