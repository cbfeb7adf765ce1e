"""What flows through the realtime layer.

A feed reports `FeedEvent`s (conversation and seq, the message when the transport carried
it). A subscriber receives `MessageEvent`s in seq order and, last, at most one `EndEvent`
that says why its stream ended. A `MessageEvent` is shared by every subscriber of its
conversation, so its JSON and its server-sent event frame are encoded once, not once per
subscriber.

Each event is also its own server-sent event (`.sse`, a Litestar `ServerSentEventMessage`):

    id: 42                            one per message; a browser sends it back as
    event: message                    Last-Event-ID when it reconnects
    data: {"id": ..., "seq": 42, ...}

    event: overflow | gone |         the last event, then the stream ends
      shutdown | expired
    data: {"reason": ..., "conversation_id": ..., "last_seq": 41, "message": ...}

    event: reset                      first, when the resume point lies beyond the
    data: {"reason": "reset", ...}    conversation's last seq: the stream starts over at seq 1

End and reset events carry no `id`, so Last-Event-ID stays the last message's seq. Lines end
in a bare LF (JSON never contains a raw newline, so `data` is always one line).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar.response import ServerSentEventMessage

from app.store.models import Message

__all__ = [
    "END_REASONS",
    "SSE_SEPARATOR",
    "EndEvent",
    "EndReason",
    "Event",
    "FeedEvent",
    "MessageEvent",
    "ResetEvent",
    "TurnEventsRow",
]

SSE_SEPARATOR = "\n"

EndReason = Literal["overflow", "gone", "shutdown", "expired"]

END_REASONS: dict[EndReason, str] = {
    "overflow": "the subscriber fell too far behind and was disconnected; resume after last_seq",
    "gone": "the conversation was deleted or has expired",
    "shutdown": "the server is shutting down; resume after last_seq",
    "expired": "the token the stream was opened with has expired; resume after last_seq with a fresh one",
}


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A feed saw message `seq` of a conversation committed; `message` is None when the
    transport could not carry it (Realtime strips oversized records): the hub reads it."""

    conversation_id: str
    seq: int
    message: Message | None = None


@dataclass(frozen=True, slots=True)
class TurnEventsRow:
    """A feed saw a batch of a turn's stream committed (a row of public.ai_turn_events): the
    events seq..last_seq, as stored (JSON objects with a `type`)."""

    turn_id: UUID
    seq: int
    last_seq: int
    events: list[dict[str, Any]]


class _SharedFrame(ServerSentEventMessage):
    """A ServerSentEventMessage encoded on first use only: Litestar encodes every message it
    streams, and one message event is streamed to every subscriber of its conversation."""

    def encode(self) -> bytes:
        frame: bytes | None = self.__dict__.get("_frame")
        if frame is None:
            frame = self.__dict__["_frame"] = super().encode()
        return frame


class MessageEvent:
    """One stored message for subscribers; `data` is its JSON, `sse` its server-sent event,
    each encoded on first use."""

    __slots__ = ("_data", "_sse", "message")
    kind: Literal["message"] = "message"

    def __init__(self, message: Message) -> None:
        self.message = message
        self._data: bytes | None = None
        self._sse: ServerSentEventMessage | None = None

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

    @property
    def sse(self) -> ServerSentEventMessage:
        """`id: <seq>`, `event: message`, the JSON as `data`; shared by every subscriber."""
        if self._sse is None:
            self._sse = _SharedFrame(data=self.data, event="message", id=self.seq, sep=SSE_SEPARATOR)
        return self._sse

    def __repr__(self) -> str:
        return f"MessageEvent({self.message.conversation_id!r}, seq={self.message.seq})"


class _EndBody(msgspec.Struct, frozen=True):
    reason: str
    conversation_id: str
    last_seq: int
    message: str


class _ControlEvent(ABC):
    """An event about the stream rather than a message: `event: <reason>`, the body as
    `data`, with no `id` (so Last-Event-ID stays the last message's seq)."""

    __slots__ = ()
    reason: str
    conversation_id: str
    last_seq: int

    @property
    @abstractmethod
    def message(self) -> str:
        """The human-readable sentence of the body."""

    @property
    def data(self) -> bytes:
        return msgspec.json.encode(_EndBody(self.reason, self.conversation_id, self.last_seq, self.message))

    @property
    def sse(self) -> ServerSentEventMessage:
        return ServerSentEventMessage(data=self.data, event=self.reason, sep=SSE_SEPARATOR)


@dataclass(frozen=True, slots=True)
class EndEvent(_ControlEvent):
    """The last event of a subscription. `last_seq` is the seq of the last message the
    subscriber received before it: a client resumes with after=last_seq."""

    reason: EndReason
    conversation_id: str
    last_seq: int
    kind: Literal["end"] = "end"

    @property
    def message(self) -> str:
        return END_REASONS[self.reason]


@dataclass(frozen=True, slots=True)
class ResetEvent(_ControlEvent):
    """The first event of a stream whose resume point (Last-Event-ID or `after`) lies beyond
    the conversation's last seq: the client's seqs belong to another conversation of that id
    (an expired one, since ids are reused and seq restarts at 1) or are not seqs at all. The
    stream then replays the conversation from its first message; `last_seq` is where it ends
    now. The client drops what it kept for this id and takes what follows."""

    conversation_id: str
    after_seq: int
    last_seq: int
    kind: Literal["reset"] = "reset"

    reason: Literal["reset"] = "reset"

    @property
    def message(self) -> str:
        return (
            f"the resume point {self.after_seq} is beyond the conversation's last seq {self.last_seq}: "
            "replaying it from the start"
        )


Event = MessageEvent | EndEvent | ResetEvent
