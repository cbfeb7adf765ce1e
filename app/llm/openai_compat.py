"""OpenAI-compatible Chat Completions over httpx.

One client for every server that speaks `POST {base_url}/chat/completions`: OpenAI
(`https://api.openai.com/v1`), Ollama (`http://localhost:11434/v1`), vLLM and LM Studio
(`http://localhost:8000/v1`, `http://localhost:1234/v1`), OpenRouter
(`https://openrouter.ai/api/v1`) and Google's OpenAI-compatible Gemini/Gemma endpoint
(`https://generativelanguage.googleapis.com/v1beta/openai`).

Retries: a request is retried, at most `max_retries` times after the first attempt, on 408,
409, 429 and 5xx answers and on transport errors that happen before an answer can have been
produced (connection refused/reset, connect timeout, a server that closed the connection
without answering). The wait is exponential backoff with jitter, or the server's
`Retry-After` (seconds or an HTTP date; also OpenAI's `retry-after-ms`) when it sends one,
never longer than `max_retry_wait`. A read timeout is not retried (the model may still be
working on it; waiting again would double the caller's wait): it is a `ProviderTimeout`.
A stream is retried only until its first event was handed to the caller, never after.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec

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

__all__ = ["RETRY_STATUSES", "OpenAICompatProvider", "parse_retry_after"]

log = logging.getLogger("app.llm")

RETRY_STATUSES = frozenset({408, 409, 429})  # plus every 5xx

Sleep = Callable[[float], Awaitable[None]]


# -- wire shapes (lenient: only what we read) ---------------------------------------------------
class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


class _WireToolCall(msgspec.Struct):
    function: _Function
    id: str | None = None
    index: int | None = None


class _WireMessage(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_WireToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _WireMessage | None = None
    delta: _WireMessage | None = None
    finish_reason: str | None = None


class _WireUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _WireResponse(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: _WireUsage | None = None
    model: str | None = None
    error: Any = None


_decoder = msgspec.json.Decoder(_WireResponse)
_encoder = msgspec.json.Encoder()


class _Retry(Exception):
    """An attempt failed in a way worth retrying; `error` is raised when retries run out."""

    def __init__(self, error: ProviderError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date;
    None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class OpenAICompatProvider:
    """A model behind an OpenAI-compatible `/chat/completions` endpoint.

    `client` may be shared (it is then not closed by `aclose`); `sleep` and `rand` are there
    for tests (the waits between retries go through `sleep`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_wait: float = 30.0,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stream_usage: bool = True,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_wait = max_retry_wait
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.stream_usage = stream_usage
        self.headers = {"accept": "application/json", **(headers or {})}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=self.timeout)
        self._sleep = sleep
        self._rand = rand

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    # -- request ---------------------------------------------------------------------------
    def body(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body sent for `request`."""
        body: dict[str, Any] = {"model": self.model, "messages": [_message(m) for m in request.messages]}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
            if request.tool_choice:
                body["tool_choice"] = request.tool_choice
        temperature = request.temperature if request.temperature is not None else self.temperature
        if temperature is not None:
            body["temperature"] = temperature
        max_tokens = request.max_tokens if request.max_tokens is not None else self.max_tokens
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stream:
            body["stream"] = True
            if self.stream_usage:
                body["stream_options"] = {"include_usage": True}
        return body

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_wait)
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        jittered: float = ceiling / 2 + self._rand() * ceiling / 2
        return min(jittered, self.max_retry_wait)

    async def _retrying(self, attempt: int, retry: _Retry) -> None:
        """Wait before the next attempt, or raise the final error when none is left."""
        if attempt >= self.max_retries:
            raise retry.error from retry
        delay = self._delay(attempt, retry.retry_after)
        log.warning(
            "LLM request failed (%s), retry %d/%d in %.2fs",
            retry.error.message,
            attempt + 1,
            self.max_retries,
            delay,
        )
        await self._sleep(delay)

    # -- complete --------------------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> Completion:
        content = _encoder.encode(self.body(request, stream=False))
        headers = {**self.headers, "content-type": "application/json"}
        attempt = 0
        while True:
            try:
                try:
                    response = await self.client.post(self.url, content=content, headers=headers)
                except httpx.HTTPError as exc:
                    raise _transport_error(exc) from exc
                if response.status_code >= 400:
                    raise _status_error(response.status_code, response.headers, response.content)
                return _completion(response.content, self.model)
            except _Retry as retry:
                await self._retrying(attempt, retry)
                attempt += 1

    # -- stream ----------------------------------------------------------------------------
    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        content = _encoder.encode(self.body(request, stream=True))
        headers = {**self.headers, "content-type": "application/json", "accept": "text/event-stream"}
        attempt = 0
        while True:
            emitted = False
            try:
                try:
                    async with self.client.stream(
                        "POST", self.url, content=content, headers=headers
                    ) as response:
                        if response.status_code >= 400:
                            raw = await response.aread()
                            raise _status_error(response.status_code, response.headers, raw)
                        async for event in _sse_events(response, self.model):
                            emitted = True
                            yield event
                        return
                except httpx.HTTPError as exc:
                    if emitted:  # never retried once the caller has seen a token
                        raise _transport_error(exc).error from exc
                    raise _transport_error(exc) from exc
            except _Retry as retry:
                if emitted:
                    raise retry.error from retry
                await self._retrying(attempt, retry)
                attempt += 1


# -- helpers -----------------------------------------------------------------------------------
def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role}
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id or ""
        out["content"] = m.content or ""
        return out
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _encoder.encode(c.arguments).decode()},
            }
            for c in m.tool_calls
        ]
    else:
        out["content"] = m.content or ""
    if m.name:
        out["name"] = m.name
    return out


def _transport_error(exc: httpx.HTTPError) -> _Retry:
    """Transport failures: which are worth a retry. A read timeout is final (see the module
    docstring), so are errors once a response started (those are not _Retry-worthy either)."""
    if isinstance(exc, httpx.TimeoutException):
        error: ProviderError = ProviderTimeout(f"model provider timed out ({type(exc).__name__})")
        if isinstance(exc, httpx.ReadTimeout):
            raise error from exc
        return _Retry(error)
    message = f"model provider unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return _Retry(ProviderUnavailable(message))
    raise ProviderUnavailable(message) from exc


def _error_text(raw: bytes) -> str:
    """The provider's error message when its body has one (OpenAI: {"error": {"message"}})."""
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw[:300].decode(errors="replace").strip()
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        if isinstance(error, list) and error:  # Google wraps errors in a list
            return _error_text(_encoder.encode(error[0]))
        return str(error)[:300]
    return str(body)[:300]


def _status_error(status: int, headers: Mapping[str, str], raw: bytes) -> _Retry:
    error = ProviderHTTPError(
        f"model provider answered {status}: {_error_text(raw) or 'no details'}", upstream_status=status
    )
    if status in RETRY_STATUSES or status >= 500:
        return _Retry(error, parse_retry_after(headers))
    raise error


def _tool_calls(wire: list[_WireToolCall] | None) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for i, call in enumerate(wire or ()):
        calls.append(_tool_call(call.id, call.function.name, call.function.arguments, i))
    return calls


def _tool_call(
    call_id: str | None, name: str | None, arguments: str | dict[str, Any] | None, i: int
) -> ToolCall:
    if not name:
        raise MalformedResponse("model asked for a tool call without a function name")
    if isinstance(arguments, dict):
        args: Any = arguments
    elif not arguments or not arguments.strip():
        args = {}
    else:
        try:
            args = msgspec.json.decode(arguments)
        except msgspec.DecodeError as exc:
            raise MalformedResponse(
                f"arguments of tool call {name!r} are not valid JSON: {exc}",
                details={"tool": name, "arguments": arguments[:500]},
            ) from exc
    if not isinstance(args, dict):
        raise MalformedResponse(
            f"arguments of tool call {name!r} are not a JSON object", details={"tool": name}
        )
    return ToolCall(id=call_id or f"call_{i}", name=name, arguments=args)


def _usage(wire: _WireUsage | None) -> Usage:
    if wire is None:
        return Usage()
    return Usage(wire.prompt_tokens or 0, wire.completion_tokens or 0)


def _decode(raw: bytes) -> _WireResponse:
    try:
        body = _decoder.decode(raw)
    except msgspec.DecodeError as exc:  # also ValidationError: JSON of the wrong shape
        snippet = raw[:200].decode(errors="replace")
        raise MalformedResponse(
            f"model provider answered with malformed JSON: {exc}", details=snippet
        ) from exc
    if body.error is not None:  # some servers (OpenRouter) report errors inside a 200 or a stream
        status = 502
        text = body.error
        if isinstance(body.error, dict):
            text = body.error.get("message") or body.error
            code = body.error.get("code")
            status = code if isinstance(code, int) else 502
        raise ProviderHTTPError(f"model provider reported an error: {text}", upstream_status=status)
    return body


def _completion(raw: bytes, default_model: str) -> Completion:
    body = _decode(raw)
    if not body.choices or body.choices[0].message is None:
        raise MalformedResponse("model provider answered without choices")
    choice = body.choices[0]
    assert choice.message is not None
    return Completion(
        content=choice.message.content or "",
        tool_calls=_tool_calls(choice.message.tool_calls),
        usage=_usage(body.usage),
        model=body.model or default_model,
        finish_reason=choice.finish_reason,
    )


class _PartialCall:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name = ""
        self.arguments = ""


async def _sse_events(response: httpx.Response, default_model: str) -> AsyncIterator[StreamEvent]:
    """Server-sent `data:` lines to events; tool-call fragments are put together by index.
    A stream that ends without `[DONE]` and without a finish reason was cut off."""
    text: list[str] = []
    calls: dict[int, _PartialCall] = {}
    usage = Usage()
    model = default_model
    finish_reason: str | None = None
    done = False
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments (": keep-alive"), event:/id: fields
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        chunk = _decode(data.encode())
        if chunk.model:
            model = chunk.model
        if chunk.usage is not None:
            usage = _usage(chunk.usage)
        for choice in chunk.choices or ():
            delta = choice.delta or choice.message
            if choice.finish_reason:
                finish_reason = choice.finish_reason
            if delta is None:
                continue
            if delta.content:
                text.append(delta.content)
                yield TextDelta(delta.content)
            for i, fragment in enumerate(delta.tool_calls or ()):
                partial = calls.setdefault(
                    fragment.index if fragment.index is not None else i, _PartialCall()
                )
                partial.id = fragment.id or partial.id
                partial.name += fragment.function.name or ""
                if isinstance(fragment.function.arguments, dict):
                    partial.arguments += _encoder.encode(fragment.function.arguments).decode()
                else:
                    partial.arguments += fragment.function.arguments or ""
    if not done and finish_reason is None:
        raise ProviderUnavailable("model provider's stream ended before the answer was complete")
    tool_calls = [_tool_call(c.id, c.name, c.arguments, i) for i, c in sorted(calls.items())]
    yield StreamDone(
        Completion(
            content="".join(text),
            tool_calls=tool_calls,
            usage=usage,
            model=model,
            finish_reason=finish_reason,
        )
    )
