"""The engine's events as the AI SDK's UI message stream (protocol v1): the face's encoder.

One assistant message per turn, announced by `start` with the id the reply is stored under
(`messageId`), then one step per model round: `start-step`, the round's text (`text-start`,
`text-delta`..., `text-end`), the API's tools it ran (`tool-input-available`, then
`tool-output-available` or `tool-output-error`), `finish-step`; last `finish` with the reason and
`messageMetadata` (model, usage, duration, the conversation and the turn), or `error` with its
reason, or `abort` when the turn was stopped (what was generated is stored). The stream is
server-sent events, each `data:` one chunk's JSON, then `data: [DONE]`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.turns import (
    StreamEvent,
    ToolExecuted,
    TurnCompleted,
    TurnDelta,
    TurnFailed,
    TurnStarted,
    TurnStopped,
)

__all__ = ["DONE", "HEADERS", "UIChunks", "frame"]

# What the AI SDK's DefaultChatTransport expects of the answer (its UI_MESSAGE_STREAM_HEADERS).
HEADERS = {
    "x-vercel-ai-ui-message-stream": "v1",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
DONE = b"data: [DONE]\n\n"
_encoder = msgspec.json.Encoder()
# The engine's finish reasons (OpenAI's) as the AI SDK names them.
_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content-filter",
    "tool_calls": "tool-calls",
}


def frame(chunk: dict[str, Any]) -> bytes:
    """One chunk as a server-sent event."""
    return b"data: " + _encoder.encode(chunk) + b"\n\n"


def finish_reason(reason: str | None) -> str:
    return _REASONS.get(reason or "stop", "other")


class UIChunks:
    """Encodes one turn's events, in order, as UI message chunks (see the module docstring).

    A step is one model call: its text, then the tools it asked for and the API ran. The
    engine's events say where a step ends: text after tool results belongs to the next call."""

    __slots__ = ("_after_tools", "_step", "_steps", "_text", "_tool_round", "message_id")

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self._text: str | None = None  # the open text part's id
        self._step = False
        self._steps = 0
        self._after_tools = False
        self._tool_round = 0  # the engine's round of the last tool result

    def _open_step(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._after_tools:
            out += self._close_step()
            self._after_tools = False
        if not self._step:
            self._step = True
            self._steps += 1
            out.append({"type": "start-step"})
        return out

    def _close_text(self) -> list[dict[str, Any]]:
        if self._text is None:
            return []
        chunk = {"type": "text-end", "id": self._text}
        self._text = None
        return [chunk]

    def _close_step(self) -> list[dict[str, Any]]:
        out = self._close_text()
        if self._step:
            self._step = False
            out.append({"type": "finish-step"})
        return out

    def __call__(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, TurnStarted):
            started = {"conversationId": event.conversation_id}
            if event.turn_id is not None:
                started["turnId"] = str(event.turn_id)
            return [{"type": "start", "messageId": self.message_id, "messageMetadata": started}]
        if isinstance(event, TurnDelta):
            out = self._open_step()
            if self._text is None:
                self._text = f"{self.message_id}-text-{self._steps}"
                out.append({"type": "text-start", "id": self._text})
            out.append({"type": "text-delta", "id": self._text, "delta": event.text})
            return out
        if isinstance(event, ToolExecuted):
            # Results of one round share its step; a later round's are a later model call's.
            self._after_tools = self._after_tools and event.round != self._tool_round
            self._tool_round = event.round
            out = self._close_text()
            out += self._open_step()
            call = event.tool_call_id
            out.append(
                {
                    "type": "tool-input-available",
                    "toolCallId": call,
                    "toolName": event.tool,
                    "input": event.args,
                }
            )
            if event.is_error:
                out.append({"type": "tool-output-error", "toolCallId": call, "errorText": event.content})
            else:
                out.append({"type": "tool-output-available", "toolCallId": call, "output": event.content})
            self._after_tools = True
            return out
        if isinstance(event, TurnFailed):
            return [*self._close_step(), {"type": "error", "errorText": f"{event.error}: {event.message}"}]
        out = self._close_step()
        if isinstance(event, TurnStopped):
            return [*out, {"type": "abort", "reason": "stopped"}]
        assert isinstance(event, TurnCompleted)
        result = event.result
        metadata: dict[str, Any] = {
            "model": result.model,
            "usage": {
                "inputTokens": result.usage.prompt_tokens,
                "outputTokens": result.usage.completion_tokens,
            },
            "durationMs": result.duration_ms,
            "finishReason": result.finish_reason,
            "conversationId": result.conversation_id,
        }
        if result.turn_id is not None:
            metadata["turnId"] = str(result.turn_id)
        out.append(
            {
                "type": "finish",
                "finishReason": finish_reason(result.finish_reason),
                "messageMetadata": metadata,
            }
        )
        return out
