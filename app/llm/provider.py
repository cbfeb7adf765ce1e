"""The model-provider interface: what the chat loop needs from an LLM, and nothing more.

A provider turns a `CompletionRequest` (messages in OpenAI's chat shape plus the tools on
offer) into a `Completion`, either at once (`complete`) or as a stream of events (`stream`:
`TextDelta`s, then exactly one `StreamDone` carrying the whole completion). Every failure is a
`ProviderError` subclass whose `status_code` is what the HTTP API answers (502, or 504 on a
timeout) and whose `code` names the failure in the JSON error body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

__all__ = [
    "SUMMARY_INSTRUCTION",
    "ChatMessage",
    "ChatRole",
    "Completion",
    "CompletionRequest",
    "MalformedResponse",
    "Provider",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ReplyRejected",
    "StreamDone",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

ChatRole = Literal["system", "user", "assistant", "tool"]

# The first message of a summary request (app.llm.compaction); the offline provider answers
# a request that starts with it with a summary.
SUMMARY_INSTRUCTION = (
    "Summarize the conversation below for the assistant that continues it: the user's goals, "
    "facts and numbers established, decisions, tool results that matter, and open questions. "
    "If it starts with an earlier summary, fold that in. Answer with the summary only."
)


class ToolCall(msgspec.Struct, frozen=True):
    """A tool the model asked to run, with its arguments already decoded from JSON."""

    id: str
    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)


class ChatMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    """One message sent to the model. `tool_calls` only on assistant messages, `tool_call_id`
    only on tool results (answering the assistant's call with that id)."""

    role: ChatRole
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class ToolSpec(msgspec.Struct, frozen=True):
    """A tool offered to the model: `parameters` is the JSON schema of its arguments object."""

    name: str
    description: str
    parameters: dict[str, Any]


class Usage(msgspec.Struct, frozen=True):
    """Tokens the provider reports (0 when it reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens
        )


class CompletionRequest(msgspec.Struct, frozen=True):
    """What to complete. `tool_choice="none"` keeps the tools visible (the history may refer
    to them) but asks for a text answer; None leaves the provider's default ("auto")."""

    messages: list[ChatMessage]
    tools: list[ToolSpec] = msgspec.field(default_factory=list)
    tool_choice: Literal["auto", "none"] | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class Completion(msgspec.Struct, frozen=True):
    """The model's answer: text, and/or tool calls to run before it answers again."""

    content: str
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    usage: Usage = msgspec.field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None


class TextDelta(msgspec.Struct, frozen=True, tag="delta"):
    """A piece of the answer's text, in order."""

    text: str


class StreamDone(msgspec.Struct, frozen=True, tag="done"):
    """The last event of a stream: the whole completion (text = the deltas joined)."""

    completion: Completion


StreamEvent = TextDelta | StreamDone


@runtime_checkable
class Provider(Protocol):
    """A chat model. `model` labels the answers (the configured model name, or the offline
    provider's label) when the provider reports none."""

    model: str

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


# -- errors ------------------------------------------------------------------------------------
class ProviderError(Exception):
    """The model provider failed; the turn stops (the user message stays stored)."""

    status_code = 502
    code = "provider_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ProviderTimeout(ProviderError):
    """The provider did not answer in time (connect or read timeout): the API answers 504."""

    status_code = 504
    code = "provider_timeout"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, or the connection broke mid-answer (a cut stream)."""

    code = "provider_unavailable"


class ProviderHTTPError(ProviderError):
    """The provider answered with an HTTP error (4xx, or 429/5xx after the last retry);
    `upstream_status` is its status."""

    code = "provider_http_error"

    def __init__(self, message: str, *, upstream_status: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.upstream_status = upstream_status


class MalformedResponse(ProviderError):
    """The provider's answer could not be understood: not JSON, no choices, tool-call
    arguments that are not a JSON object, an empty answer."""

    code = "provider_malformed_response"


class ReplyRejected(ProviderError):
    """The database refused to store the model's answer (its limits: longer than the
    settings' max_content_chars, say). The answer is the provider's output, not the client's
    input, so this is a 502 like any unusable answer, not a 422; nothing is truncated, the
    database's limit stays the only rule."""

    code = "provider_reply_rejected"
