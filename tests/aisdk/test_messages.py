"""UIMessages <-> stored messages (app.aisdk.messages), without a database: what a conversation
written by any face reads as in the AI SDK's shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from app.aisdk.messages import new_message, ui_messages
from app.aisdk.schemas import UIMessage
from app.openai_api.items import parse_item
from app.store.models import Message, NewMessage


def stored(seq: int, new: NewMessage) -> Message:
    return Message(uuid.uuid4(), "c", seq, new.role, new.content, new.metadata, datetime.now(UTC),
                   idempotency_key=new.idempotency_key)  # fmt: skip


def native(seq: int, role: str, content: str, key: str | None = None, **metadata: Any) -> Message:
    return stored(seq, NewMessage(role, content, metadata, key))  # type: ignore[arg-type]


def test_a_message_is_stored_under_its_id_and_reads_back_as_sent() -> None:
    plain = UIMessage(id="u1", role="user", parts=[{"type": "text", "text": "hello"}])
    rich = UIMessage(
        id="u2",
        role="user",
        parts=[{"type": "text", "text": "look"}, {"type": "data-weather", "data": {"c": 21}}],
        metadata={"from": "page"},
    )
    assert new_message(plain) == NewMessage("user", "hello", {}, "u1")
    assert new_message(rich) == NewMessage(
        "user", "look", {"ui": {"parts": rich.parts, "metadata": {"from": "page"}}}, "u2"
    )
    assert ui_messages([stored(1, new_message(plain)), stored(2, new_message(rich))]) == [plain, rich]
    with pytest.raises(ValueError, match="text"):
        new_message(
            UIMessage(id="u3", role="user", parts=[{"type": "file", "url": "x", "mediaType": "image/png"}])
        )


def test_a_native_turn_is_one_assistant_message_of_steps() -> None:
    history = [
        native(1, "user", "2+2 and the time?", "k"),
        native(2, "tool", "4", "k:tool:1", tool="calculator", args={"expression": "2+2"},
               tool_call_id="c1", round=1),
        native(3, "tool", "noon", "k:tool:2", tool="current_time", args={}, tool_call_id="c2", round=2,
               is_error=False),
        native(4, "assistant", "4, at noon.", "msg_r", model="m", tokens={"prompt": 9, "completion": 3},
               duration_ms=12, finish_reason="stop"),
        native(5, "system", "Summary of messages 1-4", None, kind="summary", covers=[1, 4]),
        native(6, "user", "thanks", "k2"),
    ]  # fmt: skip
    out = ui_messages(history)
    assert [(m.id, m.role) for m in out] == [("k", "user"), ("msg_r", "assistant"), ("k2", "user")]
    assert out[1].parts == [
        {"type": "step-start"},
        {"type": "tool-calculator", "toolCallId": "c1", "input": {"expression": "2+2"},
         "state": "output-available", "output": "4"},
        {"type": "step-start"},
        {"type": "tool-current_time", "toolCallId": "c2", "input": {}, "state": "output-available",
         "output": "noon"},
        {"type": "step-start"},
        {"type": "text", "text": "4, at noon.", "state": "done"},
    ]  # fmt: skip
    assert out[1].metadata == {
        "model": "m",
        "usage": {"inputTokens": 9, "outputTokens": 3},
        "durationMs": 12,
        "finishReason": "stop",
    }


def test_v1_function_calls_read_as_dynamic_tool_parts() -> None:
    call = parse_item(
        {"type": "function_call", "call_id": "fc1", "name": "lookup", "arguments": '{"q": 1}'}, "i"
    )
    output = parse_item({"type": "function_call_output", "call_id": "fc1", "output": "found"}, "i")
    history = [
        native(1, "user", "find it", "k"),
        stored(2, NewMessage(call.role, call.content, call.metadata, "fc_1")),
        stored(3, NewMessage(output.role, output.content, output.metadata, "fco_1")),
        native(4, "assistant", "Found.", "msg_2"),
    ]
    (_, reply) = ui_messages(history)
    assert reply.id == "msg_2"
    assert reply.parts[1] == {
        "type": "dynamic-tool",
        "toolName": "lookup",
        "toolCallId": "fc1",
        "state": "output-available",
        "input": {"q": 1},
        "output": "found",
    }
    assert reply.parts[-1]["text"] == "Found."


def test_a_turn_without_a_reply_still_reads() -> None:
    history = [
        native(1, "user", "x", "k"),
        native(2, "tool", "4", "k:tool:1", tool="calculator", args={}, round=1),
    ]
    (_, partial) = ui_messages(history)
    assert partial.id == "k:tool:1"
    assert [p["type"] for p in partial.parts] == ["step-start", "tool-calculator"]
