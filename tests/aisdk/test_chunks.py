"""The engine's events as UI message chunks (app.aisdk.chunks): one step per model call."""

from __future__ import annotations

import uuid

from app.aisdk.chunks import UIChunks, finish_reason, frame
from app.llm.provider import Usage
from app.turns import ChatResult, ToolExecuted, TurnCompleted, TurnDelta, TurnFailed, TurnStarted, TurnStopped

TURN = uuid.uuid4()


def result(reason: str = "stop") -> ChatResult:
    return ChatResult(
        conversation_id="c", response="", message_id=None, model="m", usage=Usage(3, 4), duration_ms=5,
        tool_calls=[], finish_reason=reason, turn_id=TURN,
    )  # fmt: skip


def tool(call: str, round: int) -> ToolExecuted:
    return ToolExecuted(
        tool="calculator",
        args={"x": 1},
        content="1",
        is_error=False,
        message_id=uuid.uuid4(),
        tool_call_id=call,
        round=round,
    )


def test_steps_follow_the_model_calls() -> None:
    encode = UIChunks("msg_1")
    started = TurnStarted(
        conversation_id="c", user_message_id=uuid.uuid4(), created=False, replayed=False, turn_id=TURN
    )
    events = [started, TurnDelta("Let me"), tool("a", 1), tool("b", 1), tool("c", 2), TurnDelta("\n\nDone."),
              TurnCompleted(result())]  # fmt: skip
    chunks = [c for e in events for c in encode(e)]
    types = [c["type"] for c in chunks]
    assert types == [
        "start",
        "start-step", "text-start", "text-delta", "text-end",
        "tool-input-available", "tool-output-available", "tool-input-available", "tool-output-available",
        "finish-step",
        "start-step", "tool-input-available", "tool-output-available", "finish-step",
        "start-step", "text-start", "text-delta", "text-end", "finish-step",
        "finish",
    ]  # fmt: skip
    assert chunks[0] == {"type": "start", "messageId": "msg_1",
                         "messageMetadata": {"conversationId": "c", "turnId": str(TURN)}}  # fmt: skip
    texts = [c["id"] for c in chunks if c["type"] == "text-start"]
    assert len(set(texts)) == 2
    assert chunks[-1]["finishReason"] == "stop"
    assert chunks[-1]["messageMetadata"]["usage"] == {"inputTokens": 3, "outputTokens": 4}


def test_a_stopped_or_failed_turn_ends_the_stream_clearly() -> None:
    stopped = UIChunks("m")
    stopped(TurnDelta("par"))
    assert [c["type"] for c in stopped(TurnStopped(result("stopped")))] == [
        "text-end",
        "finish-step",
        "abort",
    ]
    failed = UIChunks("m")
    failed(TurnDelta("par"))
    end = failed(TurnFailed(error="provider_timeout", message="the model did not answer"))
    assert end[-1] == {"type": "error", "errorText": "provider_timeout: the model did not answer"}


def test_the_wire_format() -> None:
    assert frame({"type": "start-step"}) == b'data: {"type":"start-step"}\n\n'
    assert finish_reason("tool_calls") == "tool-calls"
    assert finish_reason("something new") == "other"
