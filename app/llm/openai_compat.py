"""OpenAI-compatible Chat Completions through the official `openai` SDK (`AsyncOpenAI`).

One client for every server that speaks `POST {base_url}/chat/completions`: OpenAI
(`https://api.openai.com/v1`), Ollama (`http://localhost:11434/v1`), vLLM and LM Studio
(`http://localhost:8000/v1`, `http://localhost:1234/v1`), OpenRouter
(`https://openrouter.ai/api/v1`) and Google's OpenAI-compatible Gemini/Gemma endpoint
(`https://generativelanguage.googleapis.com/v1beta/openai`).

The SDK sends the request, retries it (`max_retries` times after the first attempt, on
408/409/429/5xx answers, connection errors and timeouts, with exponential backoff or the
server's `Retry-After`/`retry-after-ms`), applies the timeouts and parses the SSE stream.
This module keeps what the SDK does not decide for us: its errors mapped to ours, the
streamed tool-call fragments put together, tool-call arguments decoded as a JSON object, and
the few policies below, each where it is applied.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import httpx2
import openai
from openai import AsyncOpenAI, Omit, omit
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from app.llm.provider import (
    ChatMessage,
    Completion,
    CompletionRequest,
    MalformedResponse,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)

__all__ = ["ChatAsyncOpenAI", "OpenAICompatProvider"]

# The SDK insists on a key. Keyless local servers (Ollama, vLLM, LM Studio) get this
# placeholder with the Authorization header omitted, so nothing is sent; and the SDK never
# falls back to OPENAI_API_KEY from the environment (which would hand an OpenAI key to
# whatever server LLM_BASE_URL names).
_NO_KEY = "no-key"
# Only LLM_* configure the model: the SDK would also read OPENAI_ORG_ID and
# OPENAI_PROJECT_ID from the environment and send them along, to any server.
_FROM_THE_ENVIRONMENT = ("OpenAI-Organization", "OpenAI-Project")


class ChatAsyncOpenAI(AsyncOpenAI):
    """AsyncOpenAI with the two retry policies of a chat turn that the SDK has no setting for.

    Each overrides the one SDK method that decides it:
    - a ceiling on the wait between two attempts. The SDK honours a server's Retry-After up
      to two minutes; a /chat request is a person waiting, so `max_retry_wait`
      (LLM_RETRY_MAX_WAIT_SECONDS) bounds every wait, backoff or Retry-After;
    - a read timeout is final. The SDK retries every timeout, but a read timeout means the
      model took the whole LLM_TIMEOUT_SECONDS and may still be working: another attempt
      would double the caller's wait for a likely second timeout. Connect timeouts are still
      retried (nothing was sent). The SDK re-raises its own errors without retrying them, so
      the read timeout leaves as an `APITimeoutError` straight away.
    """

    max_retry_wait: float = 30.0

    def _calculate_retry_timeout(self, *args: Any, **kwargs: Any) -> float:
        return min(super()._calculate_retry_timeout(*args, **kwargs), self.max_retry_wait)

    async def _send_request(self, request: httpx2.Request, *, stream: bool, **kwargs: Any) -> httpx2.Response:
        try:
            return await super()._send_request(request, stream=stream, **kwargs)
        except httpx2.ReadTimeout as exc:
            raise openai.APITimeoutError(request=request) from exc


class OpenAICompatProvider:
    """A model behind an OpenAI-compatible `/chat/completions` endpoint, through `client`
    (an `AsyncOpenAI`, built here from the settings)."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_retries: int = 2,
        max_retry_wait: float = 30.0,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stream_usage: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.stream_usage = stream_usage
        # Sent with each request (the SDK accepts an omitted Authorization only there).
        self.extra_headers: dict[str, Omit] = {
            name: omit for name in _FROM_THE_ENVIRONMENT if name not in (headers or {})
        }
        if not api_key:
            self.extra_headers["Authorization"] = omit
        self.client = ChatAsyncOpenAI(
            base_url=base_url,
            api_key=api_key or _NO_KEY,
            # Per read, as before: a stream may last longer as long as tokens keep coming.
            timeout=httpx2.Timeout(timeout, connect=connect_timeout),
            max_retries=max(0, max_retries),
            default_headers=headers,
        )
        self.client.max_retry_wait = max_retry_wait

    async def aclose(self) -> None:
        await self.client.close()

    def _arguments(self, request: CompletionRequest) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` for `request` (its JSON body)."""
        args: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(m) for m in request.messages],
            "extra_headers": self.extra_headers,
        }
        if request.tools:
            args["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
            if request.tool_choice:
                args["tool_choice"] = request.tool_choice
        temperature = request.temperature if request.temperature is not None else self.temperature
        if temperature is not None:
            args["temperature"] = temperature
        max_tokens = request.max_tokens if request.max_tokens is not None else self.max_tokens
        if max_tokens is not None:
            # `max_tokens`, not OpenAI's newer `max_completion_tokens`: the one every
            # OpenAI-compatible server (Ollama, vLLM, OpenRouter, Gemini) understands.
            args["max_tokens"] = max_tokens
        return args

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            answer: object = await self.client.chat.completions.create(**self._arguments(request))
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise _provider_error(exc) from exc
        return _completion(answer, self.model)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        args = self._arguments(request)
        if self.stream_usage:
            args["stream_options"] = {"include_usage": True}
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        usage = Usage()
        model = self.model
        finish_reason: str | None = None
        # The SDK retries only until the answer's headers arrived; once a token went out it
        # never retries (the caller has shown it already), and neither do we.
        try:
            chunks = await self.client.chat.completions.create(**args, stream=True)
            async with chunks:
                async for chunk in chunks:
                    chunk = cast(ChatCompletionChunk, chunk)
                    model = getattr(chunk, "model", None) or model
                    if getattr(chunk, "usage", None) is not None:
                        usage = _usage(chunk.usage)
                    for choice in getattr(chunk, "choices", None) or ():
                        finish_reason = getattr(choice, "finish_reason", None) or finish_reason
                        delta = getattr(choice, "delta", None)
                        if delta is None:
                            continue
                        if isinstance(delta.content, str) and delta.content:
                            text.append(delta.content)
                            yield TextDelta(delta.content)
                        for i, fragment in enumerate(delta.tool_calls or ()):
                            index = fragment.index if fragment.index is not None else i
                            calls.setdefault(index, _PartialCall()).add(fragment)
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise _provider_error(exc) from exc
        # The SDK ends the iteration quietly when the connection closes early; an answer
        # without a finish reason was cut off, and a partial reply must not be stored.
        if finish_reason is None:
            raise ProviderUnavailable("model provider's stream ended before the answer was complete")
        yield StreamDone(
            Completion(
                content="".join(text),
                tool_calls=[_tool_call(c.id, c.name, c.arguments, i) for i, c in sorted(calls.items())],
                usage=usage,
                model=model,
                finish_reason=finish_reason,
            )
        )


class _PartialCall:
    """A streamed tool call put together from its fragments. Not the SDK's
    `chat.completions.stream()` helper: it fails (TypeError) on the fragments without an
    `index` that some OpenAI-compatible servers send, where a call's position stands in."""

    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name = ""
        self.arguments = ""

    def add(self, fragment: ChoiceDeltaToolCall) -> None:
        self.id = fragment.id or self.id
        if fragment.function is not None:
            self.name += fragment.function.name or ""
            self.arguments += _text(fragment.function.arguments)


def _message(m: ChatMessage) -> ChatCompletionMessageParam:
    out: dict[str, Any] = {"role": m.role}
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id or ""
        out["content"] = m.content or ""
        return cast(ChatCompletionMessageParam, out)
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments, separators=(",", ":"))},
            }
            for c in m.tool_calls
        ]
    else:
        out["content"] = m.content or ""
    if m.name:
        out["name"] = m.name
    return cast(ChatCompletionMessageParam, out)


def _error_text(body: object) -> str:
    """The provider's error message (OpenAI: {"error": {"message"}}; Google: a list)."""
    if isinstance(body, list) and body:
        return _error_text(body[0])
    if isinstance(body, dict):
        inner = body.get("error", body)
        if inner is not body:
            return _error_text(inner)
        return str(body.get("message") or body)[:300]
    return str(body or "")[:300].strip()


def _provider_error(exc: Exception) -> ProviderError:
    """The SDK's exceptions as ours (the order matters: a timeout is a connection error)."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(f"model provider timed out ({type(exc.__cause__).__name__})")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ProviderUnavailable(
            f"model provider unreachable: {type(cause).__name__}: {cause}".rstrip(": ")
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        text = _error_text(exc.body) or exc.response.text[:300].strip() or "no details"
        return ProviderHTTPError(f"model provider answered {status}: {text}", upstream_status=status)
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return MalformedResponse(f"model provider answered with malformed JSON: {exc}")
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return _reported_error(exc.body)
    return ProviderError(f"model provider failed: {exc}")


def _reported_error(error: object) -> ProviderHTTPError:
    """An error a server reports inside a 200 or a stream (OpenRouter does both); its code is
    the upstream status when it is one."""
    code = error.get("code") if isinstance(error, dict) else None
    return ProviderHTTPError(
        f"model provider reported an error: {_error_text(error)}",
        upstream_status=code if isinstance(code, int) else 502,
    )


def _usage(usage: object) -> Usage:
    """Tokens as reported; a server that reports none (or only some) counts 0."""
    return Usage(getattr(usage, "prompt_tokens", None) or 0, getattr(usage, "completion_tokens", None) or 0)


def _text(arguments: object) -> str:
    """Tool-call arguments as JSON text (some servers send an object instead of a string)."""
    if isinstance(arguments, dict):
        return json.dumps(arguments)
    return arguments if isinstance(arguments, str) else ""


def _tool_call(call_id: str | None, name: str | None, arguments: object, i: int) -> ToolCall:
    if not name:
        raise MalformedResponse("model asked for a tool call without a function name")
    raw = _text(arguments)
    try:
        args = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise MalformedResponse(
            f"arguments of tool call {name!r} are not valid JSON: {exc}",
            details={"tool": name, "arguments": raw[:500]},
        ) from exc
    if not isinstance(args, dict):
        raise MalformedResponse(
            f"arguments of tool call {name!r} are not a JSON object", details={"tool": name}
        )
    return ToolCall(id=call_id or f"call_{i}", name=name, arguments=args)


def _completion(answer: object, default_model: str) -> Completion:
    """The SDK builds its models without validating them (what lets a lenient server's answer
    through), so the fields read here are checked here."""
    if not isinstance(answer, ChatCompletion):  # a body that is not JSON comes back as text
        raise MalformedResponse("model provider answered with malformed JSON", details=str(answer)[:200])
    error = (answer.model_extra or {}).get("error")
    if error is not None:
        raise _reported_error(error)
    choices = getattr(answer, "choices", None)
    if not choices:
        raise MalformedResponse("model provider answered without choices")
    if not isinstance(choices, list):
        raise MalformedResponse("model provider answered with malformed JSON: choices is not a list")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    wire_calls = getattr(message, "tool_calls", None) or []
    if message is None or not isinstance(content, str | None) or not isinstance(wire_calls, list):
        raise MalformedResponse("model provider answered with malformed JSON: unexpected message shape")
    calls = []
    for i, call in enumerate(wire_calls):
        function = getattr(call, "function", None)  # None on a custom (non-function) tool call
        calls.append(
            _tool_call(
                getattr(call, "id", None),
                getattr(function, "name", None),
                getattr(function, "arguments", None),
                i,
            )
        )
    usage = getattr(answer, "usage", None)
    return Completion(
        content=content or "",
        tool_calls=calls,
        usage=_usage(usage),
        model=getattr(answer, "model", None) or default_model,
        finish_reason=getattr(choices[0], "finish_reason", None),
    )
