"""The chat turn against the real local database: what is sent to the model, what is stored,
how many store calls a turn costs, and the database state after every class of failure."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import respx

from app.llm.offline import OFFLINE_MODEL, OfflineProvider
from app.llm.openai_compat import OpenAICompatProvider
from app.llm.prompt import history_messages
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
from app.llm.tools import ToolRegistry, builtin_tools
from app.openai_api.items import parse_item
from app.store.errors import NotFoundError
from app.store.manager import ConversationManager
from app.turns import ToolExecuted, TurnCompleted, TurnDelta, TurnEvent, TurnStarted
from tests.harness.store_calls import CountingTransport
from tests.llm.helpers import stored
from tests.llm.turns import begin_turn, run_turn, stream_events, stream_turn

BASE = "http://llm.test/v1"
URL = f"{BASE}/chat/completions"
SYSTEM = "You are the line monitor."
T = TypeVar("T")


class Scripted:
    """A provider answering from a script (completions, or errors to raise), recording requests."""

    model = "scripted-model"

    def __init__(self, *steps: Completion | Exception, delay: float = 0.0) -> None:
        self.steps = list(steps)
        self.requests: list[CompletionRequest] = []
        self.delay = delay

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow model, where a test asks for one
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        completion = await self.complete(request)
        for word in re.findall(r"\S+\s*", completion.content):
            yield TextDelta(word)
        yield StreamDone(completion)

    async def aclose(self) -> None:
        return None


def text(content: str, prompt: int = 10, completion: int = 2) -> Completion:
    return Completion(content, usage=Usage(prompt, completion), model="scripted-model", finish_reason="stop")


def calls(*tool_calls: ToolCall, content: str = "") -> Completion:
    return Completion(
        content, list(tool_calls), Usage(5, 1), model="scripted-model", finish_reason="tool_calls"
    )


def ok_json(content: str = "Line 1000 is fine.") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": "gpt-test",
            "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 42, "completion_tokens": 5},
        },
    )


def tool_json(*tool_calls: tuple[str, str, str]) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": "gpt-test",
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                            for i, n, a in tool_calls
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 40, "completion_tokens": 9},
        },
    )


def sse(*contents: str, finish: bool = True) -> bytes:
    chunks = [{"model": "gpt-test", "choices": [{"delta": {"content": c}}]} for c in contents]
    if finish:
        chunks.append({"model": "gpt-test", "choices": [{"delta": {}, "finish_reason": "stop"}]})
        chunks.append({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": len(contents)}})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    return (body + ("data: [DONE]\n\n" if finish else "")).encode()


@pytest.fixture
async def openai() -> AsyncIterator[OpenAICompatProvider]:
    provider = OpenAICompatProvider(
        base_url=BASE, model="gpt-test", api_key="sk-test", max_retries=2, max_retry_wait=0.01
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def conversation(store: ConversationManager, transport: CountingTransport, conversation_id: str) -> str:
    """A conversation with two earlier messages; store calls are counted from here on."""
    await store.create_conversation(conversation_id=conversation_id)
    await store.add_message(conversation_id, "user", "How is line 999?")
    await store.add_message(conversation_id, "assistant", "Line 999 is fine.")
    transport.calls.clear()
    return conversation_id


async def drain(events: AsyncIterator[T], into: list[T]) -> None:
    async for event in events:
        into.append(event)


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)  # type: ignore[no-any-return]


async def roles(admin: psycopg.AsyncConnection[Any], conversation_id: str) -> list[str]:
    return [row[0] for row in await stored(admin, conversation_id)]


# -- a plain turn --------------------------------------------------------------------------------
async def test_plain_turn_request_storage_and_two_store_calls(
    store: ConversationManager,
    transport: CountingTransport,
    openai: OpenAICompatProvider,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    with respx.mock(using="httpx2") as mock:
        route = mock.post(URL).mock(return_value=ok_json())
        result = await run_turn(
            store,
            openai,
            builtin_tools(),
            message="And line 1000?",
            conversation_id=conversation,
            metadata={"channel": "web"},
            system_prompt=SYSTEM,
            history_limit=10,
        )
    assert transport.calls == ["begin_turn", "finish_turn"]
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-test"
    body = sent(route)
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "How is line 999?"},
        {"role": "assistant", "content": "Line 999 is fine."},
        {"role": "user", "content": "And line 1000?"},
    ]
    assert [t["function"]["name"] for t in body["tools"]] == ["current_time", "calculator"]

    assert result.conversation_id == conversation
    assert result.response == "Line 1000 is fine."
    assert result.model == "gpt-test"
    assert result.usage == Usage(42, 5)
    assert result.tool_calls == []
    assert result.finish_reason == "stop"
    assert result.duration_ms >= 0
    assert not result.replayed

    rows = await stored(admin, conversation)
    assert [r[:2] for r in rows[2:]] == [("user", "And line 1000?"), ("assistant", "Line 1000 is fine.")]
    assert rows[2][2] == {"channel": "web"}
    assert rows[3][2] == {
        "model": "gpt-test",
        "tokens": {"prompt": 42, "completion": 5},
        "duration_ms": result.duration_ms,
        "tool_calls": [],
        "finish_reason": "stop",
    }
    cur = await admin.execute(
        "select id from public.ai_conversation_messages where idempotency_key like 'auto:%%'"
        " and conversation_id = %s and role = 'assistant' order by seq desc limit 1",
        (conversation,),
    )
    assert (await cur.fetchone()) == (result.message_id,)


async def test_history_window_and_include_history(
    store: ConversationManager, transport: CountingTransport, conversation: str
) -> None:
    provider = Scripted(text("one"), text("two"))
    await run_turn(
        store,
        provider,
        None,
        message="third",
        conversation_id=conversation,
        history_limit=2,
        system_prompt=SYSTEM,
    )
    await run_turn(
        store, provider, None, message="fourth", conversation_id=conversation, include_history=False
    )
    assert provider.requests[0].messages == [
        ChatMessage(role="system", content=SYSTEM),
        ChatMessage(role="assistant", content="Line 999 is fine."),
        ChatMessage(role="user", content="third"),
    ]
    assert provider.requests[0].tools == []  # no registry, no tools
    assert provider.requests[1].messages == [ChatMessage(role="user", content="fourth")]
    assert transport.calls == ["begin_turn", "finish_turn"] * 2


async def test_new_conversation_and_unknown_conversation(
    store: ConversationManager,
    transport: CountingTransport,
    conversation_id: str,
    admin: psycopg.AsyncConnection[Any],
) -> None:
    provider = OfflineProvider()
    result = await run_turn(store, provider, None, message="How is line 999?")
    assert result.model == OFFLINE_MODEL
    assert result.response.startswith('Offline echo (no model configured): you said "How is line 999?"')
    assert await roles(admin, result.conversation_id) == ["user", "assistant"]

    silent = Scripted()
    with pytest.raises(NotFoundError):
        await run_turn(store, silent, None, message="hello", conversation_id=conversation_id)
    assert silent.requests == []
    assert await roles(admin, conversation_id) == []


# -- tools ---------------------------------------------------------------------------------------
async def test_tool_round_trip_over_http(
    store: ConversationManager,
    transport: CountingTransport,
    openai: OpenAICompatProvider,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    with respx.mock(using="httpx2") as mock:
        route = mock.post(URL).mock(
            side_effect=[
                tool_json(
                    ("call_a", "calculator", '{"expression": "2+2"}'),
                    ("call_b", "current_time", '{"timezone": "Europe/Paris"}'),
                ),
                ok_json("2+2 is 4, and it is morning in Paris."),
            ]
        )
        result = await run_turn(
            store,
            openai,
            builtin_tools(),
            message="2+2? And the time in Paris?",
            conversation_id=conversation,
            system_prompt=SYSTEM,
        )
    # 2 + one append per tool result.
    assert transport.calls == ["begin_turn", "append_message", "append_message", "finish_turn"]
    second = sent(route, 1)["messages"]
    assert second[:4] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "How is line 999?"},
        {"role": "assistant", "content": "Line 999 is fine."},
        {"role": "user", "content": "2+2? And the time in Paris?"},
    ]
    assert second[4] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression":"2+2"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "current_time", "arguments": '{"timezone":"Europe/Paris"}'},
            },
        ],
    }
    assert second[5] == {"role": "tool", "tool_call_id": "call_a", "content": "2+2 = 4"}
    assert second[6]["tool_call_id"] == "call_b"
    assert '"timezone":"Europe/Paris"' in second[6]["content"]

    assert result.usage == Usage(82, 14)
    assert [(c.tool, c.args) for c in result.tool_calls] == [
        ("calculator", {"expression": "2+2"}),
        ("current_time", {"timezone": "Europe/Paris"}),
    ]
    rows = await stored(admin, conversation)
    assert [r[0] for r in rows[2:]] == ["user", "tool", "tool", "assistant"]
    assert rows[3][1] == "2+2 = 4"
    assert rows[3][2] == {
        "tool": "calculator",
        "args": {"expression": "2+2"},
        "tool_call_id": "call_a",
        "round": 1,
        "is_error": False,
    }
    assert rows[5][2]["tool_calls"] == [
        {"tool": "calculator", "args": {"expression": "2+2"}},
        {"tool": "current_time", "args": {"timezone": "Europe/Paris"}},
    ]
    assert rows[5][2]["tokens"] == {"prompt": 82, "completion": 14}
    assert rows[5][2]["finish_reason"] == "stop"

    # The next turn sends those tool messages as a rebuilt call + results.
    provider = Scripted(text("noted"))
    await run_turn(store, provider, builtin_tools(), message="thanks", conversation_id=conversation)
    history = provider.requests[0].messages
    assert [m.role for m in history] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
    ]
    assert history[3].tool_calls == [
        ToolCall("call_4", "calculator", {"expression": "2+2"}),
        ToolCall("call_5", "current_time", {"timezone": "Europe/Paris"}),
    ]
    assert (history[4].tool_call_id, history[4].content) == ("call_4", "2+2 = 4")


async def test_failing_tool_answers_the_model(
    store: ConversationManager,
    transport: CountingTransport,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    registry = ToolRegistry()

    @registry.tool
    async def lookup(args: dict[str, Any]) -> str:
        """Looks things up."""
        raise ConnectionError("inventory service down")

    provider = Scripted(
        calls(ToolCall("c1", "lookup", {}), ToolCall("c2", "calculator", {"expression": "1/0"})),
        text("Sorry, I could not look that up."),
    )
    result = await run_turn(store, provider, registry, message="stock?", conversation_id=conversation)
    assert result.response == "Sorry, I could not look that up."
    tool_messages = provider.requests[1].messages[-2:]
    assert tool_messages[0].content == "error: lookup failed: ConnectionError: inventory service down"
    assert tool_messages[1].content == "error: unknown tool 'calculator' (available: lookup)"
    rows = await stored(admin, conversation)
    assert [(r[0], r[2].get("is_error")) for r in rows[3:]] == [
        ("tool", True),
        ("tool", True),
        ("assistant", None),
    ]


async def test_tool_rounds_are_bounded(
    store: ConversationManager,
    transport: CountingTransport,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    again = ToolCall("c", "calculator", {"expression": "1+1"})
    provider = Scripted(calls(again), calls(again), text("Enough tools: 2."))
    result = await run_turn(
        store, provider, builtin_tools(), message="1+1?", conversation_id=conversation, max_tool_rounds=2
    )
    assert result.response == "Enough tools: 2."
    assert [r.tool_choice for r in provider.requests] == [None, None, "none"]
    assert len(result.tool_calls) == 2
    assert await roles(admin, conversation) == ["user", "assistant", "user", "tool", "tool", "assistant"]

    # A model that still answers with nothing but tool calls: an empty answer is a provider error.
    stubborn = Scripted(calls(again), calls(again))
    with pytest.raises(MalformedResponse, match="empty answer"):
        await run_turn(
            store, stubborn, builtin_tools(), message="1+1?", conversation_id=conversation, max_tool_rounds=1
        )
    assert (await roles(admin, conversation))[-2:] == ["user", "tool"]


async def test_text_of_every_round_is_kept(
    store: ConversationManager, transport: CountingTransport, conversation: str
) -> None:
    provider = Scripted(
        calls(ToolCall("c", "calculator", {"expression": "6*7"}), content="Let me compute."),
        text("It is 42."),
    )
    events = [
        e
        async for e in stream_turn(
            store, provider, builtin_tools(), message="6*7?", conversation_id=conversation
        )
    ]
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.result.response == "Let me compute.\n\nIt is 42."
    assert "".join(e.text for e in events if isinstance(e, TurnDelta)) == done.result.response
    assert provider.requests[1].messages[-2].content == "Let me compute."


# -- failures ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("responses", "error", "status"),
    [
        ([httpx.Response(500, text="boom")] * 3, ProviderHTTPError, 502),
        ([httpx.Response(429, headers={"Retry-After": "1"})] * 3, ProviderHTTPError, 502),
        ([httpx.ReadTimeout("slow")], ProviderTimeout, 504),
        ([httpx.ConnectError("refused")] * 3, ProviderUnavailable, 502),
        ([httpx.Response(200, text="not json")], MalformedResponse, 502),
        ([httpx.Response(200, json={"choices": []})], MalformedResponse, 502),
        ([tool_json(("c", "calculator", "{oops"))], MalformedResponse, 502),
    ],
    ids=["500", "429", "timeout", "unreachable", "malformed-json", "no-choices", "bad-tool-args"],
)
async def test_provider_failure_keeps_user_message_only(
    store: ConversationManager,
    transport: CountingTransport,
    openai: OpenAICompatProvider,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
    responses: list[Any],
    error: type[ProviderError],
    status: int,
) -> None:
    with respx.mock(using="httpx2") as mock:
        route = mock.post(URL).mock(side_effect=responses)
        with pytest.raises(error) as info:
            await run_turn(
                store,
                openai,
                builtin_tools(),
                message="And line 1000?",
                conversation_id=conversation,
                idempotency_key="turn-1",
            )
    assert info.value.status_code == status
    assert route.call_count == len(responses)
    assert transport.calls == ["begin_turn", "finish_turn"]  # the second marks the turn failed
    rows = await stored(admin, conversation)
    assert [(r[0], r[1], r[3]) for r in rows[2:]] == [("user", "And line 1000?", "turn-1")]

    # The client retries with the same key: the user message is not stored twice.
    transport.calls.clear()
    with respx.mock(using="httpx2") as mock:
        mock.post(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "0"}), ok_json()])
        result = await run_turn(
            store,
            openai,
            builtin_tools(),
            message="And line 1000?",
            conversation_id=conversation,
            idempotency_key="turn-1",
        )
    assert result.response == "Line 1000 is fine."
    assert not result.replayed
    assert transport.calls == ["begin_turn", "finish_turn"]  # the replay's answer came with it
    rows = await stored(admin, conversation)
    assert [(r[0], r[3]) for r in rows[2:]] == [("user", "turn-1"), ("assistant", "turn-1:assistant")]


async def test_retry_after_success_returns_the_stored_reply(
    store: ConversationManager,
    transport: CountingTransport,
    openai: OpenAICompatProvider,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    with respx.mock(using="httpx2") as mock:
        route = mock.post(URL).mock(return_value=ok_json())
        first = await run_turn(
            store, openai, None, message="And line 1000?", conversation_id=conversation, idempotency_key="k"
        )
        transport.calls.clear()
        again = await run_turn(
            store, openai, None, message="And line 1000?", conversation_id=conversation, idempotency_key="k"
        )
    assert route.call_count == 1  # the model is not asked twice
    assert transport.calls == ["begin_turn"]  # which returned the stored reply
    assert again.replayed
    assert not first.replayed
    assert (again.message_id, again.response, again.usage, again.model, again.duration_ms) == (
        first.message_id,
        first.response,
        first.usage,
        first.model,
        first.duration_ms,
    )
    assert await roles(admin, conversation) == ["user", "assistant", "user", "assistant"]

    events = [
        e
        async for e in stream_turn(
            store, openai, None, message="And line 1000?", conversation_id=conversation, idempotency_key="k"
        )
    ]
    assert [type(e) for e in events] == [TurnStarted, TurnDelta, TurnCompleted]
    assert isinstance(events[0], TurnStarted)
    assert events[0].replayed
    assert isinstance(events[-1], TurnCompleted)
    assert events[-1].result.message_id == first.message_id


async def test_retry_after_a_failure_between_tool_rounds(
    store: ConversationManager,
    transport: CountingTransport,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    call = ToolCall("c1", "calculator", {"expression": "2+2"})
    failing = Scripted(calls(call), ProviderUnavailable("connection reset"))
    with pytest.raises(ProviderUnavailable):
        await run_turn(
            store, failing, builtin_tools(), message="2+2?", conversation_id=conversation, idempotency_key="t"
        )
    assert (await roles(admin, conversation))[2:] == ["user", "tool"]

    # The retry resumes after the stored result: the model reads it (the call rebuilt from it)
    # and answers; the tool is neither run nor stored again.
    transport.calls.clear()
    retry = Scripted(text("4"))
    result = await run_turn(
        store, retry, builtin_tools(), message="2+2?", conversation_id=conversation, idempotency_key="t"
    )
    assert result.response == "4"
    assert [(c.tool, c.args) for c in result.tool_calls] == [("calculator", {"expression": "2+2"})]
    assert transport.calls == ["begin_turn", "finish_turn"]
    rows = await stored(admin, conversation)
    assert [(r[0], r[3]) for r in rows[2:]] == [
        ("user", "t"),
        ("tool", "t:tool:1"),
        ("assistant", "t:assistant"),
    ]
    sent_messages = retry.requests[0].messages
    assert sent_messages[-2].tool_calls == [ToolCall("call_4", "calculator", {"expression": "2+2"})]
    assert sent_messages[-1] == ChatMessage(
        role="tool", content="2+2 = 4", tool_call_id="call_4", name="calculator"
    )

    # A third attempt answers with the stored reply, and the stored tool result as its event.
    events = [
        e
        async for e in stream_turn(
            store,
            Scripted(),
            builtin_tools(),
            message="2+2?",
            conversation_id=conversation,
            idempotency_key="t",
        )
    ]
    assert [type(e) for e in events] == [TurnStarted, ToolExecuted, TurnDelta, TurnCompleted]
    assert isinstance(events[1], ToolExecuted)
    assert (events[1].tool, events[1].content, events[1].round) == ("calculator", "2+2 = 4", 1)
    assert isinstance(events[-1], TurnCompleted)
    assert events[-1].result.message_id == result.message_id


async def test_concurrent_attempts_store_one_reply(
    store: ConversationManager, admin: psycopg.AsyncConnection[Any], conversation: str
) -> None:
    provider = Scripted(text("first"), text("second"), delay=0.05)
    a, b = await asyncio.gather(
        run_turn(store, provider, None, message="hi", conversation_id=conversation, idempotency_key="dup"),
        run_turn(store, provider, None, message="hi", conversation_id=conversation, idempotency_key="dup"),
    )
    assert a.message_id == b.message_id
    assert a.response == b.response
    assert await roles(admin, conversation) == ["user", "assistant", "user", "assistant"]


async def test_derived_keys_fit_the_column(admin: psycopg.AsyncConnection[Any]) -> None:
    """The keys of a turn's results and reply are derived in SQL (private.turn_key)."""

    async def key(turn_key: str, suffix: str) -> str:
        cur = await admin.execute("select private.turn_key(%s, %s)", (turn_key, suffix))
        row = await cur.fetchone()
        assert row is not None
        return str(row[0])

    assert await key("abc", "assistant") == "abc:assistant"
    long = await key("k" * 250, "assistant")
    assert len(long) <= 255
    assert long.endswith(":assistant")
    assert long != await key("k" * 251, "assistant")


# -- streaming -----------------------------------------------------------------------------------
async def test_stream_turn_stores_once_at_the_end(
    store: ConversationManager,
    transport: CountingTransport,
    openai: OpenAICompatProvider,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    events: list[TurnEvent] = []
    with respx.mock(using="httpx2") as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(200, content=sse("Line ", "1000 ", "is fine."))
        )
        async for event in stream_turn(
            store, openai, None, message="And line 1000?", conversation_id=conversation, system_prompt=SYSTEM
        ):
            if isinstance(event, TurnDelta):  # nothing stored for the assistant while streaming
                assert await roles(admin, conversation) == ["user", "assistant", "user"]
            events.append(event)
    assert sent(route)["stream"] is True
    assert sent(route)["messages"][0] == {"role": "system", "content": SYSTEM}
    assert isinstance(events[0], TurnStarted)
    assert [e.text for e in events if isinstance(e, TurnDelta)] == ["Line ", "1000 ", "is fine."]
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.result.response == "Line 1000 is fine."
    assert done.result.usage == Usage(12, 3)
    assert transport.calls == ["begin_turn", "finish_turn"]
    rows = await stored(admin, conversation)
    assert rows[-1][:2] == ("assistant", "Line 1000 is fine.")
    assert rows[-1][2]["tokens"] == {"prompt": 12, "completion": 3}


async def test_stream_cut_off_stores_no_reply(
    store: ConversationManager,
    transport: CountingTransport,
    openai: OpenAICompatProvider,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    into: list[TurnEvent] = []
    with respx.mock(using="httpx2") as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(200, content=sse("Line ", "10", finish=False))
        )
        with pytest.raises(ProviderUnavailable):
            await drain(stream_turn(store, openai, None, message="And?", conversation_id=conversation), into)
    assert [e.text for e in into if isinstance(e, TurnDelta)] == ["Line ", "10"]
    assert route.call_count == 1
    assert transport.calls == ["begin_turn", "finish_turn"]  # the second marks the turn failed
    assert await roles(admin, conversation) == ["user", "assistant", "user"]


async def test_client_disconnect_stores_no_reply(
    store: ConversationManager,
    transport: CountingTransport,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    # The consumer closes the generator after the first delta (what a server does on disconnect).
    start = await begin_turn(store, message="tell me a long story", conversation_id=conversation)
    events = stream_events(store, OfflineProvider(), None, start)
    assert isinstance(await anext(events), TurnStarted)
    assert isinstance(await anext(events), TurnDelta)
    await events.aclose()  # type: ignore[attr-defined]
    assert transport.calls == ["begin_turn"]
    assert await roles(admin, conversation) == ["user", "assistant", "user"]

    # Or its task is cancelled while the model is still producing.
    received: list[TurnEvent] = []
    streaming = asyncio.Event()

    async def consume() -> None:
        async for event in stream_turn(
            store,
            OfflineProvider(delay=0.02),
            builtin_tools(),
            message="and another",
            conversation_id=conversation,
        ):
            received.append(event)
            if sum(isinstance(e, TurnDelta) for e in received) == 3:
                streaming.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(streaming.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await roles(admin, conversation) == ["user", "assistant", "user", "user"]


async def test_stream_with_tools_offline(
    store: ConversationManager,
    transport: CountingTransport,
    admin: psycopg.AsyncConnection[Any],
    conversation: str,
) -> None:
    events = [
        e
        async for e in stream_turn(
            store, OfflineProvider(), builtin_tools(), message="What is 6*7?", conversation_id=conversation
        )
    ]
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["TurnStarted", "ToolExecuted"]
    assert kinds[-1] == "TurnCompleted"
    tool = events[1]
    assert isinstance(tool, ToolExecuted)
    assert (tool.tool, tool.args, tool.content, tool.is_error, tool.round) == (
        "calculator",
        {"expression": "6*7"},
        "6*7 = 42",
        False,
        1,
    )
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.result.response == 'Tool results for "What is 6*7?": calculator: 6*7 = 42.'
    assert "".join(e.text for e in events if isinstance(e, TurnDelta)) == done.result.response
    assert done.result.model == OFFLINE_MODEL
    assert transport.calls == ["begin_turn", "append_message", "finish_turn"]
    assert await roles(admin, conversation) == ["user", "assistant", "user", "tool", "assistant"]


# -- history conversion --------------------------------------------------------------------------
def test_history_messages_rebuild_tool_calls() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from app.store.models import Message

    def message(seq: int, role: str, content: str, **metadata: Any) -> Message:
        return Message(uuid4(), "c", seq, role, content, metadata, datetime.now(UTC))  # type: ignore[arg-type]

    history = [
        message(1, "system", "Be kind."),
        message(2, "user", "2+2 and 3+3?"),
        message(3, "tool", "4", tool="calculator", args={"expression": "2+2"}, round=1),
        message(4, "tool", "6", tool="calculator", args={"expression": "3+3"}, round=1),
        message(5, "tool", "later", tool="current_time", args={}, round=2),
        message(6, "tool", "added by hand"),
        message(7, "assistant", "4 and 6."),
    ]
    out = history_messages(history)
    assert [m.role for m in out] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert out[2].tool_calls == [
        ToolCall("call_3", "calculator", {"expression": "2+2"}),
        ToolCall("call_4", "calculator", {"expression": "3+3"}),
    ]
    assert out[5].tool_calls == [ToolCall("call_5", "current_time", {})]
    assert out[7].tool_calls == [ToolCall("call_6", "tool", {})]
    assert (out[8].tool_call_id, out[8].content) == ("call_6", "added by hand")


def test_history_messages_keep_v1_function_call_items() -> None:
    """Items written through /v1 (stored as the /v1 face stores them): consecutive function_call
    items are one assistant message
    with their own call ids; a function_call_output answering one is its result; one whose
    call is outside the window is rebuilt like a native tool result."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from app.store.models import Message

    def message(seq: int, role: str, content: str, **metadata: Any) -> Message:
        return Message(uuid4(), "c", seq, role, content, metadata, datetime.now(UTC))  # type: ignore[arg-type]

    def as_stored(seq: int, item: dict[str, Any]) -> Message:
        """The message the /v1 face stores for an item (app.openai_api.items.parse_item)."""
        new = parse_item(item, "input")
        return message(seq, new.role, new.content, **new.metadata)

    def call(seq: int, call_id: str, arguments: str) -> Message:
        item = {"type": "function_call", "call_id": call_id, "name": "calculator", "arguments": arguments}
        return as_stored(seq, item)

    def output(seq: int, call_id: str, content: str) -> Message:
        return as_stored(seq, {"type": "function_call_output", "call_id": call_id, "output": content})

    history = [
        output(1, "call_old", "orphan"),
        message(2, "user", "2+2 and 3+3?", openai={"type": "message"}),
        call(3, "call_a", '{"expression": "2+2"}'),
        call(4, "call_b", "not json"),
        output(5, "call_a", "4"),
        output(6, "call_b", ""),
        message(7, "assistant", "4 and nothing.", openai={"type": "message"}),
    ]
    out = history_messages(history)
    assert [m.role for m in out] == ["assistant", "tool", "user", "assistant", "tool", "tool", "assistant"]
    assert out[3].tool_calls == [
        ToolCall("call_a", "calculator", {"expression": "2+2"}),
        ToolCall("call_b", "calculator", {}),
    ]
    assert (out[4].tool_call_id, out[4].name, out[4].content) == ("call_a", "calculator", "4")
    assert (out[5].tool_call_id, out[5].content) == ("call_b", "")
    assert out[3].content is None
