"""UIMessages <-> our messages: the one place the AI SDK's message shape meets the store.

A UIMessage (`{id, role, metadata?, parts}`) is stored as one message of its role: its content
the text of its text parts joined by newlines, its id the message's idempotency key (so sending
the whole history again stores nothing twice, and the client's ids read back as sent), and in
metadata `ui` what else the client sent: `parts` when they are not exactly one text part of
that content, and its `metadata`. A message sent without any text is refused: the model reads
text.

Reading back (`ui_messages`), a conversation is grouped as the AI SDK groups it: each user or
system message is a UIMessage, and what a turn produced after it (the results of the API's own
tools, client tool calls stored by /v1, the reply) is ONE assistant UIMessage whose parts are
the steps: `step-start`, a tool part per tool (`tool-<name>`, output available), and the reply's
text; its id is the reply's key (the id the stream's `start` chunk announced), its metadata the
reply's model, usage and duration. Summaries (the store's compaction) are not the user's
messages and are not shown; native messages and /v1 items read as their nearest UI shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from app.aisdk.schemas import UIMessage
from app.llm import client_call
from app.store.models import Message, NewMessage, Role

__all__ = ["UI_KEY", "message_id", "new_message", "stored_message", "ui_messages"]

# Where a UIMessage's own details live in a message's metadata.
UI_KEY = "ui"


def message_id(message: Message) -> str:
    """A stored message's UIMessage id: the key it was stored under, else `msg_<uuid hex>`."""
    return message.idempotency_key or f"msg_{message.id.hex}"


def _text(parts: Sequence[dict[str, Any]]) -> str:
    return "\n".join(
        str(p["text"]) for p in parts if p.get("type") == "text" and isinstance(p.get("text"), str)
    )


def new_message(message: UIMessage) -> NewMessage:
    """A UIMessage as the message to store (its id its key). Raises ValueError when it carries
    no text."""
    content = _text(message.parts)
    if not content:
        raise ValueError("a message needs a text part with some text")
    details: dict[str, Any] = {}
    if message.parts != [{"type": "text", "text": content}]:
        details["parts"] = message.parts
    if message.metadata is not None:
        details["metadata"] = message.metadata
    metadata = {UI_KEY: details} if details else {}
    role: Role = "system" if message.role == "system" else "user"
    return NewMessage(role=role, content=content, metadata=metadata, idempotency_key=message.id)


def stored_message(message: Message) -> UIMessage:
    """A stored user or system message as the UIMessage it was (or stands for)."""
    details = message.metadata.get(UI_KEY)
    details = details if isinstance(details, dict) else {}
    parts = details.get("parts")
    if not isinstance(parts, list):
        parts = [{"type": "text", "text": message.content}]
    role: Literal["system", "user"] = "system" if message.role == "system" else "user"
    return UIMessage(id=message_id(message), role=role, parts=parts, metadata=details.get("metadata"))


def reply_metadata(message: Message) -> dict[str, Any]:
    """What the AI SDK shows of a reply (`messageMetadata`): its model, tokens and duration."""
    meta = message.metadata
    tokens = meta.get("tokens") if isinstance(meta.get("tokens"), dict) else {}
    out: dict[str, Any] = {}
    if meta.get("model"):
        out["model"] = meta["model"]
    if tokens:
        out["usage"] = {
            "inputTokens": int(tokens.get("prompt") or 0),
            "outputTokens": int(tokens.get("completion") or 0),
        }
    if isinstance(meta.get("duration_ms"), int):
        out["durationMs"] = meta["duration_ms"]
    if meta.get("finish_reason"):
        out["finishReason"] = meta["finish_reason"]
    return out


def _tool_part(result: Message) -> dict[str, Any]:
    """A native tool result (the API ran the tool) as the AI SDK's tool part."""
    meta = result.metadata
    args = meta.get("args")
    part: dict[str, Any] = {
        "type": f"tool-{meta.get('tool') or 'tool'}",
        "toolCallId": str(meta.get("tool_call_id") or f"call_{result.seq}"),
        "input": args if isinstance(args, dict) else {},
    }
    if meta.get("is_error"):
        return {**part, "state": "output-error", "errorText": result.content}
    return {**part, "state": "output-available", "output": result.content}


class _Assistant:
    """The assistant UIMessage a turn's messages build up: steps of tool parts, then text."""

    def __init__(self, first: Message) -> None:
        self.parts: list[dict[str, Any]] = []
        self.id = message_id(first)  # the reply's, once there is one
        self.metadata: dict[str, Any] = {}
        self.round: Any = object()
        self.calls: dict[str, dict[str, Any]] = {}  # a client call's part, by call id

    def step(self, key: Any = None) -> None:
        if not self.parts or key != self.round:
            self.parts.append({"type": "step-start"})
            self.round = key

    def add(self, message: Message) -> None:
        call = client_call(message)
        if call is not None:
            self.step(("calls", message.metadata.get("finish_reason")))
            part = {
                "type": "dynamic-tool",
                "toolName": call.name,
                "toolCallId": call.id,
                "state": "input-available",
                "input": call.arguments,
            }
            self.calls[call.id] = part
            self.parts.append(part)
        elif message.role == "tool":
            answered = self.calls.get(str(message.metadata.get("tool_call_id")))
            if answered is not None and "tool" not in message.metadata:
                output = "" if message.metadata.get("empty") else message.content
                answered.update(state="output-available", output=output)
                return
            self.step(message.metadata.get("round"))
            self.parts.append(_tool_part(message))
        else:
            self.step("text")
            self.parts.append({"type": "text", "text": message.content, "state": "done"})
            self.id = message_id(message)
            self.metadata = reply_metadata(message)

    def message(self) -> UIMessage:
        return UIMessage(id=self.id, role="assistant", parts=self.parts, metadata=self.metadata or None)


def ui_messages(messages: Sequence[Message]) -> list[UIMessage]:
    """A conversation's messages, oldest first, as the AI SDK's UIMessages (see the module
    docstring)."""
    out: list[UIMessage] = []
    turn: _Assistant | None = None
    for message in messages:
        if message.is_summary:
            continue
        if message.role in ("user", "system"):
            if turn is not None:
                out.append(turn.message())
                turn = None
            out.append(stored_message(message))
            continue
        turn = turn or _Assistant(message)
        turn.add(message)
        if message.role == "assistant" and client_call(message) is None:
            out.append(turn.message())
            turn = None
    if turn is not None:
        out.append(turn.message())
    return out
