"""The OpenAI-compatible provider (the `openai` SDK) against a mocked server: RESPX routes on
the SDK's real HTTP requests (tests.respx_httpx2), the exact request, and every class of
answer. The SDK's waits between attempts are read from its own log line ("Retrying request
in %f seconds"), the waits kept short by `max_retry_wait`."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from app.llm.openai_compat import OpenAICompatProvider
from app.llm.provider import (
    ChatMessage,
    CompletionRequest,
    MalformedResponse,
    ProviderHTTPError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
)

BASE = "http://llm.test/v1"
URL = f"{BASE}/chat/completions"
WAIT_CAP = 0.05

REQUEST = CompletionRequest(
    messages=[
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="How is line 999?"),
        ChatMessage(role="assistant", content="Line 999 is fine."),
        ChatMessage(role="user", content="And line 1000?"),
    ]
)
SENT_MESSAGES = [  # REQUEST's messages as sent
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "How is line 999?"},
    {"role": "assistant", "content": "Line 999 is fine."},
    {"role": "user", "content": "And line 1000?"},
]
TOOLS = [
    ToolSpec(
        "calculator",
        "Evaluate arithmetic.",
        {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    )
]


def ok(content: str = "All good.", **extra: Any) -> httpx.Response:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model-2025",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24},
        **extra,
    }
    return httpx.Response(200, json=body)


def sse(*chunks: dict[str, Any] | str, done: bool = True) -> bytes:
    """An SSE body: dicts as `data:` events, strings as raw lines (comments)."""
    lines = [f"{c}\n\n" if isinstance(c, str) else f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def streamed(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def delta(content: str | None = None, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    d: dict[str, Any] = dict(fields)
    if content is not None:
        d["content"] = content
    return {"model": "test-model-2025", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def mocked() -> respx.MockRouter:
    return respx.mock(using="httpx2", assert_all_called=False)


def retry_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [
        float(r.args[0])  # type: ignore[index]
        for r in caplog.records
        if r.name.startswith("openai") and r.msg.startswith("Retrying request in")
    ]


@pytest.fixture
async def provider(caplog: pytest.LogCaptureFixture) -> AsyncIterator[OpenAICompatProvider]:
    caplog.set_level(logging.INFO, logger="openai")
    p = OpenAICompatProvider(
        base_url=BASE + "/", model="test-model", api_key="sk-test", max_retries=2, max_retry_wait=WAIT_CAP
    )
    yield p
    await p.aclose()


async def drain(events: AsyncIterator[StreamEvent], into: list[StreamEvent]) -> None:
    async for event in events:
        into.append(event)


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [e async for e in events]


# -- the request ---------------------------------------------------------------------------------
async def test_request_is_exact_and_answer_parsed(provider: OpenAICompatProvider) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=ok())
        completion = await provider.complete(REQUEST)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.url == URL
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "test-model",
        "messages": SENT_MESSAGES,
    }
    assert completion.content == "All good."
    assert completion.model == "test-model-2025"
    assert completion.finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (21, 3)
    assert completion.tool_calls == []


async def test_tools_and_tool_messages_in_openai_format(provider: OpenAICompatProvider) -> None:
    request = CompletionRequest(
        messages=[
            ChatMessage(role="user", content="2+2?"),
            ChatMessage(
                role="assistant", tool_calls=[ToolCall("call_1", "calculator", {"expression": "2+2"})]
            ),
            ChatMessage(role="tool", content="2+2 = 4", tool_call_id="call_1", name="calculator"),
        ],
        tools=TOOLS,
        tool_choice="none",
    )
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=ok("4"))
        await provider.complete(request)
    assert json.loads(route.calls.last.request.content) == {
        "model": "test-model",
        "messages": [
            {"role": "user", "content": "2+2?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "calculator", "arguments": '{"expression":"2+2"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "2+2 = 4"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "calculator",
                    "description": "Evaluate arithmetic.",
                    "parameters": TOOLS[0].parameters,
                },
            }
        ],
        "tool_choice": "none",
    }


async def test_temperature_and_max_tokens_when_set() -> None:
    provider = OpenAICompatProvider(
        base_url=BASE, model="m", api_key="k", temperature=0.2, max_tokens=64, max_retries=0
    )
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=ok())
        await provider.complete(REQUEST)
        await provider.complete(CompletionRequest(messages=REQUEST.messages, temperature=1.5, max_tokens=8))
    await provider.aclose()
    first, second = (json.loads(c.request.content) for c in route.calls)
    assert (first["temperature"], first["max_tokens"]) == (0.2, 64)
    assert (second["temperature"], second["max_tokens"]) == (1.5, 8)  # the request's own win


async def test_no_authorization_header_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keyless local servers (Ollama): no header at all, and nothing from the SDK's environment.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-the-environment")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-from-the-environment")
    provider = OpenAICompatProvider(base_url=BASE, model="llama3.2")
    with mocked() as mock:
        route = mock.post(URL).mock(side_effect=[ok(), streamed(sse(delta("ok", finish="stop")))])
        await provider.complete(REQUEST)
        await collect(provider.stream(REQUEST))
    assert route.call_count == 2
    for call in route.calls:
        assert not {"authorization", "openai-organization", "openai-project"} & set(call.request.headers)
    await provider.aclose()


async def test_tool_calls_parsed(provider: OpenAICompatProvider) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
            },
            {"id": "call_b", "type": "function", "function": {"name": "current_time", "arguments": ""}},
            {"id": "call_c", "function": {"name": "calculator", "arguments": {"expression": "1"}}},
        ],
    }
    body = {"model": "m", "choices": [{"message": message, "finish_reason": "tool_calls"}]}
    with mocked() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, json=body))
        completion = await provider.complete(CompletionRequest(messages=REQUEST.messages, tools=TOOLS))
    assert completion.content == ""
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls == [
        ToolCall("call_a", "calculator", {"expression": "6*7"}),
        ToolCall("call_b", "current_time", {}),
        ToolCall("call_c", "calculator", {"expression": "1"}),  # an object, as some servers send
    ]
    assert completion.usage.prompt_tokens == 0  # not reported: 0


# -- retries -------------------------------------------------------------------------------------
async def test_429_honours_retry_after_seconds(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "0.02"}, json={"error": {}}), ok()]
        )
        completion = await provider.complete(REQUEST)
    assert completion.content == "All good."
    assert route.call_count == 2
    assert retry_waits(caplog) == [0.02]
    assert json.loads(route.calls[0].request.content) == json.loads(route.calls[1].request.content)


async def test_retry_after_ms_and_the_wait_ceiling(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    with mocked() as mock:
        route = mock.post(URL).mock(
            side_effect=[
                httpx.Response(429, headers={"retry-after-ms": "10", "Retry-After": "9"}),
                httpx.Response(429, headers={"Retry-After": soon}),  # an HTTP date, 30 s away
                ok(),
            ]
        )
        await provider.complete(REQUEST)
    assert route.call_count == 3
    assert retry_waits(caplog) == [0.01, WAIT_CAP]  # milliseconds first; then capped


async def test_a_retry_after_beyond_two_minutes_is_not_retried(provider: OpenAICompatProvider) -> None:
    # The SDK's rule: a server asking for more than two minutes gets its answer at once.
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": later}))
        with pytest.raises(ProviderHTTPError) as info:
            await provider.complete(REQUEST)
    assert route.call_count == 1
    assert info.value.upstream_status == 429


async def test_500_then_success_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="openai")
    provider = OpenAICompatProvider(base_url=BASE, model="m", api_key="k", max_retries=2, max_retry_wait=5)
    with mocked() as mock:
        route = mock.post(URL).mock(
            side_effect=[httpx.Response(500, text="oops"), httpx.Response(503), ok("recovered")]
        )
        completion = await provider.complete(REQUEST)
    await provider.aclose()
    assert completion.content == "recovered"
    assert route.call_count == 3
    first, second = retry_waits(caplog)
    # The SDK's exponential backoff: 0.5 s then 1 s, less up to 25 % jitter.
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


async def test_500_until_attempts_run_out(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(500, json={"error": {"message": "overloaded"}})
        )
        with pytest.raises(ProviderHTTPError) as info:
            await provider.complete(REQUEST)
    assert route.call_count == 3  # 1 + max_retries
    assert retry_waits(caplog) == [WAIT_CAP, WAIT_CAP]
    assert info.value.upstream_status == 500
    assert info.value.status_code == 502
    assert "overloaded" in info.value.message


@pytest.mark.parametrize("status", [408, 409])
async def test_408_and_409_are_retried(provider: OpenAICompatProvider, status: int) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(side_effect=[httpx.Response(status), ok()])
        await provider.complete(REQUEST)
    assert route.call_count == 2


async def test_client_errors_are_not_retried(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(401, json={"error": {"message": "Incorrect API key provided"}})
        )
        with pytest.raises(ProviderHTTPError, match="401: Incorrect API key provided") as info:
            await provider.complete(REQUEST)
    assert route.call_count == 1
    assert retry_waits(caplog) == []
    assert info.value.upstream_status == 401


async def test_read_timeout_is_a_timeout_and_not_retried(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ProviderTimeout) as info:
            await provider.complete(REQUEST)
    assert route.call_count == 1
    assert info.value.status_code == 504
    assert retry_waits(caplog) == []


async def test_connect_timeout_is_retried_then_a_timeout(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(side_effect=httpx.ConnectTimeout("no route"))
        with pytest.raises(ProviderTimeout):
            await provider.complete(REQUEST)
    assert route.call_count == 3
    assert len(retry_waits(caplog)) == 2


async def test_the_timeouts_reach_the_sdk() -> None:
    provider = OpenAICompatProvider(base_url=BASE, model="m", timeout=12.5, connect_timeout=2.0)
    timeout = provider.client.timeout
    assert not isinstance(timeout, float | None)
    assert (timeout.read, timeout.connect) == (12.5, 2.0)
    await provider.aclose()


async def test_connection_refused_is_retried_then_unavailable(provider: OpenAICompatProvider) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(side_effect=[httpx.ConnectError("refused"), ok("second try")])
        assert (await provider.complete(REQUEST)).content == "second try"
        route.side_effect = httpx.ConnectError("refused")
        with pytest.raises(ProviderUnavailable, match="refused"):
            await provider.complete(REQUEST)
    assert route.call_count == 5  # 2, then 1 + max_retries


# -- malformed answers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, text="<html>Bad gateway</html>"), "malformed JSON"),
        (
            httpx.Response(200, content=b'{"choices": [', headers={"content-type": "application/json"}),
            "malformed JSON",
        ),
        (httpx.Response(200, json={"id": "x", "choices": []}), "without choices"),
        (httpx.Response(200, json={"id": "x"}), "without choices"),
        (httpx.Response(200, json={"choices": "nope"}), "malformed JSON"),
        (httpx.Response(200, json={"choices": [{"message": {"content": 7}}]}), "malformed JSON"),
        (
            httpx.Response(
                200,
                json={
                    "choices": [
                        {
                            "message": {
                                "tool_calls": [
                                    {"id": "c", "function": {"name": "calculator", "arguments": "{expr"}}
                                ]
                            }
                        }
                    ]
                },
            ),
            "not valid JSON",
        ),
        (
            httpx.Response(
                200,
                json={
                    "choices": [
                        {
                            "message": {
                                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]
                            }
                        }
                    ]
                },
            ),
            "not a JSON object",
        ),
        (
            httpx.Response(
                200, json={"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": ""}}]}}]}
            ),
            "without a function name",
        ),
    ],
    ids=[
        "not-json",
        "broken-json",
        "empty-choices",
        "no-choices",
        "wrong-shape",
        "content-not-text",
        "bad-tool-args",
        "tool-args-not-object",
        "tool-without-name",
    ],
)
async def test_malformed_answers(
    provider: OpenAICompatProvider, response: httpx.Response, message: str
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=response)
        with pytest.raises(MalformedResponse, match=message) as info:
            await provider.complete(REQUEST)
    assert route.call_count == 1  # a malformed answer is not retried
    assert info.value.status_code == 502


async def test_error_inside_a_200(provider: OpenAICompatProvider) -> None:
    with mocked() as mock:
        mock.post(URL).mock(
            return_value=httpx.Response(200, json={"error": {"message": "No endpoints found", "code": 404}})
        )
        with pytest.raises(ProviderHTTPError, match="No endpoints found") as info:
            await provider.complete(REQUEST)
    assert info.value.upstream_status == 404


# -- streaming -----------------------------------------------------------------------------------
async def test_stream_deltas_then_done(provider: OpenAICompatProvider) -> None:
    body = sse(
        delta(role="assistant", content=""),
        delta("Line "),
        ": keep-alive comment",
        delta("1000 is "),
        delta("fine.", finish="stop"),
        {"model": "test-model-2025", "choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 4}},
    )
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=streamed(body))
        events = await collect(provider.stream(REQUEST))
    assert json.loads(route.calls.last.request.content) == {
        "model": "test-model",
        "messages": SENT_MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert events[:-1] == [TextDelta("Line "), TextDelta("1000 is "), TextDelta("fine.")]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.completion.content == "Line 1000 is fine."
    assert done.completion.finish_reason == "stop"
    assert (done.completion.usage.prompt_tokens, done.completion.usage.completion_tokens) == (30, 4)
    assert done.completion.model == "test-model-2025"


async def test_stream_without_usage_option() -> None:
    provider = OpenAICompatProvider(base_url=BASE, model="m", stream_usage=False)
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=streamed(sse(delta("ok", finish="stop"))))
        await collect(provider.stream(REQUEST))
    await provider.aclose()
    assert "stream_options" not in json.loads(route.calls.last.request.content)


async def test_stream_tool_call_fragments_assembled(provider: OpenAICompatProvider) -> None:
    def fragment(index: int, **function: str) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": function}
        if "name" in function:
            call |= {"id": f"call_{index}", "type": "function"}
        return delta(tool_calls=[call])

    body = sse(
        fragment(0, name="calculator", arguments=""),
        fragment(0, arguments='{"expres'),
        fragment(1, name="current_time", arguments="{}"),  # interleaved with call 0's fragments
        fragment(0, arguments='sion": "1+1"}'),
        delta(finish="tool_calls"),
    )
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=streamed(body))
        events = await collect(provider.stream(CompletionRequest(messages=REQUEST.messages, tools=TOOLS)))
    assert json.loads(route.calls.last.request.content)["tools"][0]["function"]["name"] == "calculator"
    assert len(events) == 1
    done = events[0]
    assert isinstance(done, StreamDone)
    assert done.completion.tool_calls == [
        ToolCall("call_0", "calculator", {"expression": "1+1"}),
        ToolCall("call_1", "current_time", {}),
    ]
    assert done.completion.finish_reason == "tool_calls"


async def test_stream_tool_calls_without_an_index(provider: OpenAICompatProvider) -> None:
    # Some OpenAI-compatible servers send whole calls without `index`: their position stands in.
    calls = [
        {
            "id": "a",
            "type": "function",
            "function": {"name": "calculator", "arguments": '{"expression": "1"}'},
        },
        {"id": "b", "type": "function", "function": {"name": "current_time", "arguments": "{}"}},
    ]
    with mocked() as mock:
        mock.post(URL).mock(return_value=streamed(sse(delta(tool_calls=calls, finish="tool_calls"))))
        events = await collect(provider.stream(REQUEST))
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.completion.tool_calls == [
        ToolCall("a", "calculator", {"expression": "1"}),
        ToolCall("b", "current_time", {}),
    ]


async def test_stream_tool_call_with_broken_arguments(provider: OpenAICompatProvider) -> None:
    body = sse(
        delta(tool_calls=[{"index": 0, "id": "c", "function": {"name": "calculator", "arguments": '{"ex'}}]),
        delta(finish="tool_calls"),
    )
    with mocked() as mock:
        mock.post(URL).mock(return_value=streamed(body))
        with pytest.raises(MalformedResponse, match="not valid JSON"):
            await collect(provider.stream(REQUEST))


async def test_stream_cut_off_midway_raises_without_retry(provider: OpenAICompatProvider) -> None:
    body = sse(delta("Line "), delta("1000 "), done=False)  # no finish reason, no [DONE]
    with mocked() as mock:
        route = mock.post(URL).mock(return_value=streamed(body))
        received: list[StreamEvent] = []
        with pytest.raises(ProviderUnavailable, match="ended before the answer was complete"):
            await drain(provider.stream(REQUEST), received)
    assert received == [TextDelta("Line "), TextDelta("1000 ")]
    assert route.call_count == 1


class _BrokenStream(httpx.AsyncByteStream):
    """Sends some SSE bytes, then the connection drops."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


async def test_stream_connection_drop_after_a_token_is_not_retried(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(
            side_effect=lambda request: httpx.Response(
                200, stream=_BrokenStream(sse(delta("Hel"), done=False))
            )
        )
        received: list[StreamEvent] = []
        with pytest.raises(ProviderUnavailable, match="RemoteProtocolError"):
            await drain(provider.stream(REQUEST), received)
    assert received == [TextDelta("Hel")]
    assert route.call_count == 1
    assert retry_waits(caplog) == []


async def test_stream_retried_before_the_first_token(
    provider: OpenAICompatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": "0.01"}),
                httpx.ConnectError("refused"),
                streamed(sse(delta("ok", finish="stop"))),
            ]
        )
        events = await collect(provider.stream(REQUEST))
    assert route.call_count == 3
    assert retry_waits(caplog) == [0.01, WAIT_CAP]
    assert events == [TextDelta("ok"), events[-1]]
    assert isinstance(events[-1], StreamDone)


async def test_stream_read_timeout(provider: OpenAICompatProvider) -> None:
    with mocked() as mock:
        route = mock.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ProviderTimeout):
            await collect(provider.stream(REQUEST))
    assert route.call_count == 1


async def test_stream_error_event(provider: OpenAICompatProvider) -> None:
    body = sse(delta("Hi"), {"error": {"message": "upstream overloaded", "code": 502}})
    with mocked() as mock:
        mock.post(URL).mock(return_value=streamed(body))
        with pytest.raises(ProviderHTTPError, match="upstream overloaded") as info:
            await collect(provider.stream(REQUEST))
    assert info.value.upstream_status == 502


async def test_stream_broken_json(provider: OpenAICompatProvider) -> None:
    with mocked() as mock:
        mock.post(URL).mock(return_value=streamed(b'data: {"choices": [\n\n'))
        with pytest.raises(MalformedResponse):
            await collect(provider.stream(REQUEST))


async def test_the_real_wait_is_the_retry_after(provider: OpenAICompatProvider) -> None:
    # The logged wait is the slept one.
    with mocked() as mock:
        mock.post(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "0.04"}), ok()])
        began = time.monotonic()
        await provider.complete(REQUEST)
    assert time.monotonic() - began >= 0.04
