"""What a turn emits: one event stream that every face encodes in its own protocol.

The native /chat stream is this stream as it is: each event's `name` is the server-sent event's
name and the struct (for `done`, its `result`) its data. The OpenAI face (`response.*` events)
and the AI SDK face (UI message chunks) are encoders of the same events.

    start   TurnStarted     first: the turn, its conversation, the stored user message
    delta   TurnDelta       the next piece of the answer's text (joined: the reply)
    tool    ToolExecuted    a tool the API ran, its result stored (between model rounds)
    done    TurnCompleted   last: the stored output and what it cost (`result`)
    stopped TurnStopped     last, instead: an explicit stop; what was generated, stored
    error   TurnFailed      last, instead: the model or the store failed, or the instance
                            generating the turn died (no reply stored)

Every event of a turn has a sequence number, its position in the turn's stream: the start is 0,
then 1, 2, ... (app.turns.streams); `TurnEvent` is what the engine yields, `StreamEvent` what a
stream carries (the engine's events and TurnFailed).
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

import msgspec

from app.llm.provider import Usage
from app.store.models import Message, TurnRecord

__all__ = [
    "TERMINAL",
    "ChatResult",
    "SentContext",
    "StreamEvent",
    "ToolCallRecord",
    "ToolExecuted",
    "TurnCompleted",
    "TurnDelta",
    "TurnEvent",
    "TurnFailed",
    "TurnStarted",
    "TurnStopped",
]


class ToolCallRecord(msgspec.Struct, frozen=True):
    """A tool the model called in a turn, as recorded in the reply's metadata."""

    tool: str
    args: dict[str, Any]


class SentContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the model was sent from the conversation: the messages' `seqs` (oldest first), the
    summary it read (`summary_seq`, the seqs it `covers`), and with a token budget their token
    total (the summary's included) and that budget."""

    seqs: list[int]
    summary_seq: int | None = None
    covers: list[int] | None = None
    tokens: int | None = None
    token_budget: int | None = None


class ChatResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a turn, as /chat answers it (and its stream's `done` event carries it):
    the stored reply and what it cost.

    `usage` sums every model call of the turn; `duration_ms` is the time spent on the model
    and the tools (store calls excluded). `created`: this turn started the conversation.
    `replayed`: an idempotent retry answered with the reply an earlier attempt stored.
    `context`: which messages (seqs) the model was sent, and whether a summary was. `turn_id`:
    the stored turn (None when nothing is stored)."""

    conversation_id: str
    response: str
    message_id: UUID | None
    model: str
    usage: Usage
    duration_ms: int
    tool_calls: list[ToolCallRecord]
    finish_reason: str | None = None
    user_message_id: UUID | None = None
    created: bool = False
    replayed: bool = False
    context: SentContext | None = None
    turn_id: UUID | None = None


class TurnStarted(msgspec.Struct, frozen=True, kw_only=True):
    """Event `start`, first: the conversation (new when `created`), the stored user message and
    the turn."""

    name: ClassVar[str] = "start"
    conversation_id: str
    user_message_id: UUID
    created: bool
    replayed: bool
    turn_id: UUID | None = None


class TurnDelta(msgspec.Struct, frozen=True):
    """Event `delta`: the next piece of the answer (the pieces joined are its `response`)."""

    name: ClassVar[str] = "delta"
    text: str


class ToolExecuted(msgspec.Struct, frozen=True, kw_only=True):
    """Event `tool`: a tool ran and its result was stored as a `tool` message."""

    name: ClassVar[str] = "tool"
    tool: str
    args: dict[str, Any]
    content: str
    is_error: bool
    message_id: UUID
    tool_call_id: str
    round: int


class TurnCompleted(msgspec.Struct, frozen=True):
    """Event `done`, last: the stored reply (its data is `result`, the JSON answer). For the
    faces that render more than /chat: the stored output messages (the reply, then the client
    tool calls) and the finished turn (None when nothing is stored)."""

    name: ClassVar[str] = "done"
    result: ChatResult
    outputs: list[Message] = msgspec.field(default_factory=list)
    turn: TurnRecord | None = None


class TurnStopped(TurnCompleted, frozen=True):
    """Event `stopped`, last: an explicit stop ended the turn; what was generated is stored (the
    reply, when any text came, with finish_reason "stopped") and `result` says so."""

    name: ClassVar[str] = "stopped"


class TurnFailed(msgspec.Struct, frozen=True):
    """Event `error`, last: the turn failed (the model, the store, or its instance died), the
    error answer's body. `status` is the HTTP status a JSON answer gets; `exception` the
    exception itself where it was raised (on the instance that generated the turn)."""

    name: ClassVar[str] = "error"
    error: str
    message: str
    details: Any = None
    status: int = 502
    exception: Any = msgspec.field(default=None, name="exception")


TurnEvent = TurnStarted | TurnDelta | ToolExecuted | TurnCompleted
StreamEvent = TurnStarted | TurnDelta | ToolExecuted | TurnCompleted | TurnFailed
TERMINAL = (TurnCompleted, TurnFailed)
"""The classes of a stream's last event (TurnStopped is a TurnCompleted)."""
