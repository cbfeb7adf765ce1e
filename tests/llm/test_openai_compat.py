"""The OpenAI-compatible provider against a mocked server (respx): the exact request, and
every class of answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from app.llm.openai_compat import OpenAICompatProvider, parse_retry_after
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
from tests.llm.helpers import Sleeps

BASE = "http://llm.test/v1"
URL = f"{BASE}/chat/completions"

REQUEST = CompletionRequest(
    messages=[
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="How is line 999?"),
        ChatMessage(role="assistant", content="Line 999 is fine."),
        ChatMessage(role="user", content="And line 1000?"),
    ]
)
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


def delta(content: str | None = None, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    d: dict[str, Any] = dict(fields)
    if content is not None:
        d["content"] = content
    return {"model": "test-model-2025", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def provider(sleeps: Sleeps) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider(
        base_url=BASE + "/",
        model="test-model",
        api_key="sk-test",
        max_retries=2,
        backoff_base=0.5,
        max_retry_wait=5.0,
        sleep=sleeps,
        rand=lambda: 0.5,
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
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(return_value=ok())
        completion = await provider.complete(REQUEST)
    request = route.calls.last.request
    assert request.url == URL
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "How is line 999?"},
            {"role": "assistant", "content": "Line 999 is fine."},
            {"role": "user", "content": "And line 1000?"},
        ],
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
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=ok("4"))
        await provider.complete(request)
    body = json.loads(route.calls.last.request.content)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "calculator",
                "description": "Evaluate arithmetic.",
                "parameters": TOOLS[0].parameters,
            },
        }
    ]
    assert body["tool_choice"] == "none"
    assert body["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression":"2+2"}'},
            }
        ],
    }
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "2+2 = 4"}


async def test_no_authorization_header_without_key(sleeps: Sleeps) -> None:
    provider = OpenAICompatProvider(base_url=BASE, model="llama3.2", sleep=sleeps)
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=ok())
        await provider.complete(REQUEST)
    assert "authorization" not in route.calls.last.request.headers
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
        ],
    }
    body = {"model": "m", "choices": [{"message": message, "finish_reason": "tool_calls"}]}
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, json=body))
        completion = await provider.complete(CompletionRequest(messages=REQUEST.messages, tools=TOOLS))
    assert completion.content == ""
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls == [
        ToolCall("call_a", "calculator", {"expression": "6*7"}),
        ToolCall("call_b", "current_time", {}),
    ]
    assert completion.usage.prompt_tokens == 0  # not reported: 0


# -- retries -------------------------------------------------------------------------------------
async def test_429_honours_retry_after_seconds(provider: OpenAICompatProvider, sleeps: Sleeps) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {}}), ok()]
        )
        completion = await provider.complete(REQUEST)
    assert completion.content == "All good."
    assert route.call_count == 2
    assert sleeps == [2.0]


async def test_429_retry_after_http_date_is_capped(provider: OpenAICompatProvider, sleeps: Sleeps) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    much_later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": later}),
                httpx.Response(429, headers={"Retry-After": much_later}),
                ok(),
            ]
        )
        await provider.complete(REQUEST)
    assert route.call_count == 3
    assert 1.0 < sleeps[0] <= 3.0  # the date, seconds from now
    assert sleeps[1] == 5.0  # capped by max_retry_wait


async def test_500_then_success_backs_off(provider: OpenAICompatProvider, sleeps: Sleeps) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            side_effect=[httpx.Response(500, text="oops"), httpx.Response(503), ok("recovered")]
        )
        completion = await provider.complete(REQUEST)
    assert completion.content == "recovered"
    assert route.call_count == 3
    # Exponential with jitter (rand fixed at 0.5): ceiling 0.5 then 1.0, 75 % of it.
    assert sleeps == [0.375, 0.75]


async def test_500_until_attempts_run_out(provider: OpenAICompatProvider, sleeps: Sleeps) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(500, json={"error": {"message": "overloaded"}})
        )
        with pytest.raises(ProviderHTTPError) as info:
            await provider.complete(REQUEST)
    assert route.call_count == 3  # 1 + max_retries
    assert len(sleeps) == 2
    assert info.value.upstream_status == 500
    assert info.value.status_code == 502
    assert "overloaded" in info.value.message


async def test_client_errors_are_not_retried(provider: OpenAICompatProvider, sleeps: Sleeps) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(401, json={"error": {"message": "Incorrect API key provided"}})
        )
        with pytest.raises(ProviderHTTPError, match="401: Incorrect API key provided") as info:
            await provider.complete(REQUEST)
    assert route.call_count == 1
    assert sleeps == []
    assert info.value.upstream_status == 401


async def test_read_timeout_is_a_timeout_and_not_retried(
    provider: OpenAICompatProvider, sleeps: Sleeps
) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ProviderTimeout) as info:
            await provider.complete(REQUEST)
    assert route.call_count == 1
    assert info.value.status_code == 504
    assert sleeps == []


async def test_connect_timeout_is_retried_then_a_timeout(
    provider: OpenAICompatProvider, sleeps: Sleeps
) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=httpx.ConnectTimeout("no route"))
        with pytest.raises(ProviderTimeout):
            await provider.complete(REQUEST)
    assert route.call_count == 3
    assert len(sleeps) == 2


async def test_connection_refused_is_retried_then_unavailable(
    provider: OpenAICompatProvider, sleeps: Sleeps
) -> None:
    with respx.mock() as mock:
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
        (httpx.Response(200, json={"id": "x", "choices": []}), "without choices"),
        (httpx.Response(200, json={"id": "x"}), "without choices"),
        (httpx.Response(200, json={"choices": "nope"}), "malformed JSON"),
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
    ],
    ids=["not-json", "empty-choices", "no-choices", "wrong-shape", "bad-tool-args", "tool-args-not-object"],
)
async def test_malformed_answers(
    provider: OpenAICompatProvider, sleeps: Sleeps, response: httpx.Response, message: str
) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=response)
        with pytest.raises(MalformedResponse, match=message) as info:
            await provider.complete(REQUEST)
    assert route.call_count == 1  # a malformed answer is not retried
    assert info.value.status_code == 502


async def test_error_inside_a_200(provider: OpenAICompatProvider) -> None:
    with respx.mock() as mock:
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
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
        )
        events = await collect(provider.stream(REQUEST))
    sent = json.loads(route.calls.last.request.content)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert events[:-1] == [TextDelta("Line "), TextDelta("1000 is "), TextDelta("fine.")]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.completion.content == "Line 1000 is fine."
    assert done.completion.finish_reason == "stop"
    assert (done.completion.usage.prompt_tokens, done.completion.usage.completion_tokens) == (30, 4)
    assert done.completion.model == "test-model-2025"


async def test_stream_tool_call_fragments_assembled(provider: OpenAICompatProvider) -> None:
    def fragment(index: int, **function: str) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": function}
        if "name" in function:
            call |= {"id": f"call_{index}", "type": "function"}
        return delta(tool_calls=[call])

    body = sse(
        fragment(0, name="calculator", arguments=""),
        fragment(0, arguments='{"expres'),
        fragment(0, arguments='sion": "1+1"}'),
        fragment(1, name="current_time", arguments="{}"),
        delta(finish="tool_calls"),
    )
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, content=body))
        events = await collect(provider.stream(CompletionRequest(messages=REQUEST.messages, tools=TOOLS)))
    assert len(events) == 1
    done = events[0]
    assert isinstance(done, StreamDone)
    assert done.completion.tool_calls == [
        ToolCall("call_0", "calculator", {"expression": "1+1"}),
        ToolCall("call_1", "current_time", {}),
    ]
    assert done.completion.finish_reason == "tool_calls"


async def test_stream_cut_off_midway_raises_without_retry(
    provider: OpenAICompatProvider, sleeps: Sleeps
) -> None:
    body = sse(delta("Line "), delta("1000 "), done=False)  # no finish reason, no [DONE]
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(200, content=body))
        received: list[StreamEvent] = []
        with pytest.raises(ProviderUnavailable, match="ended before the answer was complete"):
            await drain(provider.stream(REQUEST), received)
    assert received == [TextDelta("Line "), TextDelta("1000 ")]
    assert route.call_count == 1
    assert sleeps == []


class _BrokenStream(httpx.AsyncByteStream):
    """Sends some SSE bytes, then the connection drops."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


async def test_stream_connection_drop_after_a_token_is_not_retried(
    provider: OpenAICompatProvider, sleeps: Sleeps
) -> None:
    with respx.mock() as mock:
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
    assert sleeps == []


async def test_stream_retried_before_the_first_token(provider: OpenAICompatProvider, sleeps: Sleeps) -> None:
    with respx.mock() as mock:
        route = mock.post(URL).mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": "1"}),
                httpx.ConnectError("refused"),
                httpx.Response(200, content=sse(delta("ok", finish="stop"))),
            ]
        )
        events = await collect(provider.stream(REQUEST))
    assert route.call_count == 3
    assert sleeps == [1.0, 0.75]
    assert events == [TextDelta("ok"), events[-1]]
    assert isinstance(events[-1], StreamDone)


async def test_stream_read_timeout(provider: OpenAICompatProvider) -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ProviderTimeout):
            await collect(provider.stream(REQUEST))


async def test_stream_error_event(provider: OpenAICompatProvider) -> None:
    body = sse(delta("Hi"), {"error": {"message": "upstream overloaded", "code": 502}})
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, content=body))
        with pytest.raises(ProviderHTTPError, match="upstream overloaded"):
            await collect(provider.stream(REQUEST))


# -- Retry-After parsing -------------------------------------------------------------------------
def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after": date}, now=now.timestamp()) == 30.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # past
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
