"""A turn's stream as the database keeps it (public.ai_turn_events), and back.

The runner writes the events between the start and the end: `{"type": "delta", "text": ...}` and
`{"type": "tool", ...}` (ToolExecuted's fields). The start (seq 0) is not written: any reader
rebuilds it from the turn's row, as it rebuilds the last event (the trigger writes only its
type: done, stopped or error) from the finished turn and the output it stored.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from app.llm.provider import Usage
from app.store.models import Message, TurnView
from app.turns.events import (
    ChatResult,
    StreamEvent,
    ToolCallRecord,
    ToolExecuted,
    TurnCompleted,
    TurnDelta,
    TurnFailed,
    TurnStarted,
    TurnStopped,
)

__all__ = ["END_TYPES", "decode_event", "encode_event", "ended", "result_of", "started", "turn_uuid"]

END_TYPES = frozenset({"done", "stopped", "error"})


def encode_event(event: StreamEvent) -> dict[str, Any]:
    """A delta or a tool event as stored."""
    if isinstance(event, TurnDelta):
        return {"type": "delta", "text": event.text}
    if isinstance(event, ToolExecuted):
        return {"type": "tool", **msgspec.to_builtins(event)}
    raise TypeError(f"{type(event).__name__} is not stored")


def decode_event(stored: dict[str, Any]) -> StreamEvent | None:
    """A stored delta or tool event; None for an end (rebuilt from the turn) or an unknown type."""
    kind = stored.get("type")
    if kind == "delta":
        return TurnDelta(str(stored.get("text") or ""))
    if kind == "tool":
        fields = {k: v for k, v in stored.items() if k != "type"}
        return msgspec.convert(fields, ToolExecuted)
    return None


def started(view: TurnView) -> TurnStarted:
    """The stream's start, from the turn's row."""
    turn = view.turn
    return TurnStarted(
        conversation_id=turn.conversation_id,
        user_message_id=view.user_message_id or turn.id,
        created=False,
        replayed=False,
        turn_id=turn.id,
    )


def _reply(outputs: list[Message]) -> Message | None:
    for message in outputs:
        if message.role == "assistant" and not message.metadata.get("tool_call"):
            return message
    return outputs[0] if outputs else None


def result_of(view: TurnView) -> ChatResult:
    """The finished turn's result, as its `done` (or `stopped`) event carries it."""
    turn, result = view.turn, view.turn.result
    reply = _reply(view.output)
    meta = reply.metadata if reply is not None else {}
    tokens: dict[str, Any] = result.get("tokens") or meta.get("tokens") or {}
    calls: list[Any] = meta.get("tool_calls") or []
    return ChatResult(
        conversation_id=turn.conversation_id,
        response=reply.content if reply is not None and not reply.metadata.get("tool_call") else "",
        message_id=reply.id if reply is not None else None,
        model=str(result.get("model") or meta.get("model") or ""),
        usage=Usage(int(tokens.get("prompt") or 0), int(tokens.get("completion") or 0)),
        duration_ms=int(result.get("duration_ms") or meta.get("duration_ms") or 0),
        tool_calls=[
            ToolCallRecord(str(c.get("tool")), c.get("args") or {}) for c in calls if isinstance(c, dict)
        ],
        finish_reason=result.get("finish_reason"),
        user_message_id=view.user_message_id,
        turn_id=turn.id,
    )


def ended(view: TurnView) -> StreamEvent:
    """The stream's last event, from the finished turn: done, stopped or error."""
    turn = view.turn
    if turn.state == "completed":
        return TurnCompleted(result_of(view), outputs=view.output, turn=turn)
    if turn.state == "stopped":
        return TurnStopped(result_of(view), outputs=view.output, turn=turn)
    found = turn.result.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    return TurnFailed(
        error=str(error.get("code") or "turn_failed"),
        message=str(error.get("message") or "the turn failed"),
        details={"turn_id": str(turn.id), "conversation_id": turn.conversation_id},
        status=502,
    )


def turn_uuid(value: str) -> UUID | None:
    """A turn id (a uuid, or a response id resp_<32 hex digits>) as a UUID; None otherwise."""
    text = value.removeprefix("resp_")
    try:
        return UUID(text)
    except ValueError:
        return None
