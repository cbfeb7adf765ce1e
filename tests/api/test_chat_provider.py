"""POST /chat against an OpenAI-compatible provider configured through the environment
(LLM_BASE_URL, LLM_API_KEY, LLM_MODEL), its HTTP peer mocked with respx: the exact request,
every response class, and the database state after each (the real local database).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import respx

from app.config import LLMSettings
from app.core import services_of
from app.llm import OpenAICompatProvider, create_tools
from app.server import create_app
from tests.api.helpers import SERVICE, Client, api_client, make_settings, new_id
from tests.api.test_chat import roles, stored
from tests.harness.sse import sse_json
from tests.harness.store_calls import counting

Admin = psycopg.AsyncConnection[Any]

BASE_URL = "http://llm.test/v1"
API_KEY = "sk-test-0123456789"
MODEL = "test-model"
ANSWERED_MODEL = "test-model-2025-01-01"
SYSTEM = "You are the line status assistant."

ENV = {
    "LLM_PROVIDER": "auto",
    "LLM_BASE_URL": BASE_URL,
    "LLM_API_KEY": API_KEY,
    "LLM_MODEL": MODEL,
    "LLM_TIMEOUT_SECONDS": "5",
    "LLM_MAX_RETRIES": "1",
    "LLM_RETRY_MAX_WAIT_SECONDS": "2",
    "CHAT_SYSTEM_PROMPT": SYSTEM,
    "CHAT_TOOLS": "current_time,calculator",
    "CHAT_MAX_TOOL_ROUNDS": "3",
    "CHAT_HISTORY_LIMIT": "10",
}


# -- provider answers --------------------------------------------------------------------------
def completion(
    content: str | None = "Line 999 is running on time.",
    *,
    tool_calls: list[tuple[str, str, dict[str, Any]]] | None = None,
    usage: tuple[int, int] = (42, 7),
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """An OpenAI Chat Completions answer; tool_calls as (id, name, arguments)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, n, a in tool_calls
        ]
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "model": ANSWERED_MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def sse_body(texts: list[str], *, complete: bool = True, usage: tuple[int, int] = (30, 6)) -> bytes:
    """A streamed answer: one chunk per text; `complete` adds the finish reason, the usage
    chunk and [DONE]; without it the stream is cut off mid-answer."""
    chunks: list[dict[str, Any]] = [
        {"model": ANSWERED_MODEL, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]}
        for t in texts
    ]
    if complete:
        chunks.append(
            {"model": ANSWERED_MODEL, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        )
        chunks.append(
            {
                "choices": [],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": 0},
            }
        )
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    if complete:
        body += "data: [DONE]\n\n"
    return body.encode()


def sent(route: respx.Route, n: int = -1) -> dict[str, Any]:
    """The JSON body of the n-th request the provider received."""
    body: dict[str, Any] = json.loads(route.calls[n].request.content)
    return body


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configure the model through the environment only, as a deployment does."""
    for field in LLMSettings.model_fields.values():
        if isinstance(field.validation_alias, str):
            monkeypatch.delenv(field.validation_alias, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
async def api(llm_env: None) -> AsyncIterator[Client]:
    """The API (auth required) built with no LLM settings given: they come from the env."""
    async with api_client(create_app(make_settings())) as client:
        provider = services_of(client.app).running.provider
        assert isinstance(provider, OpenAICompatProvider)
        assert str(provider.client.base_url) == f"{BASE_URL}/"
        yield client


@pytest.fixture
def llm() -> Iterator[respx.Route]:
    """The provider's endpoint (answers set per test)."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False, using="httpx2") as router:
        yield router.post("/chat/completions", name="completions")


async def start(api: Client, messages: int = 0) -> str:
    """A conversation with `messages` alternating user/assistant messages, as the service."""
    cid = new_id("chat")
    created = await api.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1}, headers=SERVICE)
    assert created.status_code == 201
    for n in range(messages):
        role = "user" if n % 2 == 0 else "assistant"
        appended = await api.post(
            f"/conversations/{cid}/messages",
            json={"role": role, "content": f"message {n + 1}"},
            headers=SERVICE,
        )
        assert appended.status_code == 201
    return cid


def tool_specs() -> list[dict[str, Any]]:
    specs = create_tools(LLMSettings.model_validate({"CHAT_TOOLS": ENV["CHAT_TOOLS"]})).specs()
    return [
        {
            "type": "function",
            "function": {"name": s.name, "description": s.description, "parameters": s.parameters},
        }
        for s in specs
    ]


# -- the request -------------------------------------------------------------------------------
async def test_the_exact_request_and_the_answer(api: Client, llm: respx.Route, admin: Admin) -> None:
    llm.mock(return_value=httpx.Response(200, json=completion()))
    cid = await start(api, messages=2)
    response = await api.post(
        "/chat", json={"message": "How is line 999?", "conversation_id": cid}, headers=SERVICE
    )
    assert response.status_code == 200, response.text

    assert llm.call_count == 1
    request = llm.calls.last.request
    assert str(request.url) == f"{BASE_URL}/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert sent(llm) == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "message 1"},
            {"role": "assistant", "content": "message 2"},
            {"role": "user", "content": "How is line 999?"},
        ],
        "tools": tool_specs(),
    }
    assert [t["function"]["name"] for t in sent(llm)["tools"]] == ["current_time", "calculator"]

    body = response.json()
    assert body["conversation_id"] == cid
    assert body["response"] == "Line 999 is running on time."
    assert body["model"] == ANSWERED_MODEL
    assert body["usage"] == {"prompt_tokens": 42, "completion_tokens": 7}
    assert body["tool_calls"] == []
    assert body["finish_reason"] == "stop"
    assert body["created"] is False
    rows = await stored(admin, cid)
    assert [(r[0], r[1]) for r in rows[2:]] == [("user", "How is line 999?"), ("assistant", body["response"])]
    assert rows[3][2] == {
        "model": ANSWERED_MODEL,
        "tokens": {"prompt": 42, "completion": 7},
        "duration_ms": body["duration_ms"],
        "tool_calls": [],
        "finish_reason": "stop",
    }
    page = (await api.get(f"/conversations/{cid}", headers=SERVICE)).json()
    assert page["messages"][-1]["id"] == body["message_id"]


async def test_without_history_only_the_system_prompt_and_the_message_are_sent(
    api: Client, llm: respx.Route
) -> None:
    llm.mock(return_value=httpx.Response(200, json=completion()))
    cid = await start(api, messages=4)
    response = await api.post(
        "/chat", json={"message": "alone", "conversation_id": cid, "include_history": False}, headers=SERVICE
    )
    assert response.status_code == 200
    assert sent(llm)["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "alone"},
    ]


async def test_the_history_window_is_the_last_messages_in_order(api: Client, llm: respx.Route) -> None:
    llm.mock(return_value=httpx.Response(200, json=completion()))
    cid = await start(api, messages=6)
    await api.post(
        "/chat", json={"message": "next", "conversation_id": cid, "history_limit": 4}, headers=SERVICE
    )
    assert sent(llm)["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "assistant", "content": "message 4"},
        {"role": "user", "content": "message 5"},
        {"role": "assistant", "content": "message 6"},
        {"role": "user", "content": "next"},
    ]


# -- tool calls --------------------------------------------------------------------------------
async def test_tool_calls_are_run_stored_and_sent_back(api: Client, llm: respx.Route, admin: Admin) -> None:
    llm.mock(
        side_effect=[
            httpx.Response(
                200,
                json=completion(
                    None,
                    tool_calls=[
                        ("call_a", "calculator", {"expression": "999 - 998"}),
                        ("call_b", "calculator", {"expression": "1/0"}),
                    ],
                    usage=(50, 20),
                    finish_reason="tool_calls",
                ),
            ),
            httpx.Response(200, json=completion("It is 1; the second sum failed.", usage=(80, 9))),
            httpx.Response(200, json=completion("Anything else?", usage=(90, 3))),
        ]
    )
    cid = await start(api)
    async with counting(api.app) as transport:
        response = await api.post(
            "/chat", json={"message": "What is 999-998, and 1/0?", "conversation_id": cid}, headers=SERVICE
        )
    assert response.status_code == 200, response.text
    assert transport.calls == ["begin_turn", "append_message", "append_message", "finish_turn"]
    body = response.json()
    assert body["response"] == "It is 1; the second sum failed."
    assert body["usage"] == {"prompt_tokens": 130, "completion_tokens": 29}
    assert body["tool_calls"] == [
        {"tool": "calculator", "args": {"expression": "999 - 998"}},
        {"tool": "calculator", "args": {"expression": "1/0"}},
    ]

    rows = await stored(admin, cid)
    assert roles(rows) == ["user", "tool", "tool", "assistant"]
    assert rows[1][1] == "999 - 998 = 1"
    assert rows[1][2] == {
        "tool": "calculator",
        "args": {"expression": "999 - 998"},
        "tool_call_id": "call_a",
        "round": 1,
        "is_error": False,
    }
    assert rows[2][1].startswith("error: calculator failed")  # a failing tool answers the model
    assert rows[2][2]["is_error"] is True
    assert rows[3][2]["tool_calls"] == body["tool_calls"]
    assert rows[3][2]["tokens"] == {"prompt": 130, "completion": 29}

    second = sent(llm, 1)["messages"]
    assert second[-3:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression":"999 - 998"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression":"1/0"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "999 - 998 = 1"},
        {"role": "tool", "tool_call_id": "call_b", "content": rows[2][1]},
    ]

    # The next turn sends that history back: the tool round rebuilt from the stored messages.
    await api.post("/chat", json={"message": "Thanks", "conversation_id": cid}, headers=SERVICE)
    third = sent(llm, 2)["messages"]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "tool", "tool", "assistant", "user"]
    assert [c["function"]["name"] for c in third[2]["tool_calls"]] == ["calculator", "calculator"]
    assert [t["tool_call_id"] for t in third[3:5]] == [c["id"] for c in third[2]["tool_calls"]]
    assert third[5] == {"role": "assistant", "content": "It is 1; the second sum failed."}


class LineArgs(msgspec.Struct, frozen=True):
    line: int


async def line_status(args: LineArgs) -> dict[str, Any]:
    """Whether a line runs on time."""
    return {"line": args.line, "status": "on time"}


async def test_a_service_adds_its_own_tool(llm_env: None, llm: respx.Route, admin: Admin) -> None:
    tools = create_tools(LLMSettings())  # the built-ins CHAT_TOOLS names
    tools.register(line_status)
    llm.mock(
        side_effect=[
            httpx.Response(
                200,
                json=completion(
                    None, tool_calls=[("call_1", "line_status", {"line": 999})], finish_reason="tool_calls"
                ),
            ),
            httpx.Response(200, json=completion("Line 999 runs on time.")),
        ]
    )
    async with api_client(create_app(make_settings(), tools=tools)) as client:
        response = await client.post("/chat", json={"message": "How is line 999?"}, headers=SERVICE)
    assert response.status_code == 200, response.text
    offered = {t["function"]["name"]: t["function"] for t in sent(llm, 0)["tools"]}
    assert list(offered) == ["current_time", "calculator", "line_status"]
    assert offered["line_status"]["description"] == "Whether a line runs on time."
    assert offered["line_status"]["parameters"]["required"] == ["line"]
    rows = await stored(admin, response.json()["conversation_id"])
    assert [(r[0], r[1]) for r in rows] == [
        ("user", "How is line 999?"),
        ("tool", '{"line":999,"status":"on time"}'),
        ("assistant", "Line 999 runs on time."),
    ]


# -- failures ----------------------------------------------------------------------------------
async def test_429_with_retry_after_then_success(api: Client, llm: respx.Route, admin: Admin) -> None:
    llm.mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.4"}, json={"error": {"message": "slow down"}}),
            httpx.Response(200, json=completion()),
        ]
    )
    cid = await start(api)
    began = time.monotonic()
    response = await api.post("/chat", json={"message": "busy?", "conversation_id": cid}, headers=SERVICE)
    assert response.status_code == 200, response.text
    assert time.monotonic() - began >= 0.4  # the server's Retry-After was honoured
    assert llm.call_count == 2
    assert sent(llm, 0) == sent(llm, 1)
    assert roles(await stored(admin, cid)) == ["user", "assistant"]


async def test_500_is_502_and_keeps_the_user_message(api: Client, llm: respx.Route, admin: Admin) -> None:
    llm.mock(return_value=httpx.Response(500, json={"error": {"message": "internal"}}))
    cid = await start(api, messages=2)
    key = new_id("key")
    request = {"message": "are you there?", "conversation_id": cid, "idempotency_key": key}
    response = await api.post("/chat", json=request, headers=SERVICE)
    assert response.status_code == 502
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == "provider_http_error"
    assert "500" in body["message"]
    assert body["details"]["upstream_status"] == 500
    assert body["details"]["conversation_id"] == cid
    assert llm.call_count == 2  # LLM_MAX_RETRIES=1
    rows = await stored(admin, cid)
    assert [(r[0], r[1]) for r in rows[2:]] == [("user", "are you there?")]

    # The provider recovers: the same key completes the turn without storing the message twice.
    llm.mock(return_value=httpx.Response(200, json=completion("Yes.")))
    retry = await api.post("/chat", json=request, headers=SERVICE)
    assert retry.status_code == 200
    assert retry.json()["user_message_id"] == body["details"]["user_message_id"]
    assert sent(llm)["messages"][-1] == {"role": "user", "content": "are you there?"}
    assert [m["content"] for m in sent(llm)["messages"]].count("are you there?") == 1
    rows = await stored(admin, cid)
    assert [(r[0], r[1]) for r in rows[2:]] == [("user", "are you there?"), ("assistant", "Yes.")]


async def test_an_answer_longer_than_the_database_allows_is_502(
    api: Client, llm: respx.Route, admin: Admin
) -> None:
    """Before: 422 validation_error about the model's text, as if the client had sent it. The
    database's max_content_chars stays the rule; the answer is the provider's failure."""
    cur = await admin.execute("select max_content_chars from public.ai_conversation_settings")
    row = await cur.fetchone()
    assert row is not None
    llm.mock(return_value=httpx.Response(200, json=completion("x" * (row[0] + 1))))
    cid = await start(api)
    response = await api.post(
        "/chat", json={"message": "tell me everything", "conversation_id": cid}, headers=SERVICE
    )
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error"] == "provider_reply_rejected"
    assert "could not be stored" in body["message"]
    assert body["details"]["conversation_id"] == cid
    assert body["details"]["answer_chars"] == row[0] + 1
    rows = await stored(admin, cid)
    assert [(r[0], r[1]) for r in rows] == [("user", "tell me everything")]  # no reply stored


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        pytest.param(httpx.ReadTimeout("read timed out"), 1, id="read-timeout"),  # not retried
        pytest.param(httpx.ConnectTimeout("connect timed out"), 2, id="connect-timeout"),  # retried
    ],
)
async def test_a_timeout_is_504(
    api: Client, llm: respx.Route, admin: Admin, error: Exception, attempts: int
) -> None:
    llm.mock(side_effect=error)
    cid = await start(api)
    response = await api.post("/chat", json={"message": "slow?", "conversation_id": cid}, headers=SERVICE)
    assert response.status_code == 504
    assert response.json()["error"] == "provider_timeout"
    assert llm.call_count == attempts
    assert roles(await stored(admin, cid)) == ["user"]


async def test_an_unreachable_provider_is_502(api: Client, llm: respx.Route, admin: Admin) -> None:
    llm.mock(side_effect=httpx.ConnectError("connection refused"))
    cid = await start(api)
    response = await api.post("/chat", json={"message": "hello?", "conversation_id": cid}, headers=SERVICE)
    assert response.status_code == 502
    assert response.json()["error"] == "provider_unavailable"
    assert llm.call_count == 2  # LLM_MAX_RETRIES=1
    assert roles(await stored(admin, cid)) == ["user"]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(httpx.Response(200, content=b"<html>not json</html>"), id="not-json"),
        pytest.param(httpx.Response(200, json={"choices": []}), id="no-choices"),
        pytest.param(httpx.Response(200, json={"choices": [{"message": {"content": 7}}]}), id="wrong-shape"),
        pytest.param(httpx.Response(200, json=completion("")), id="empty-answer"),
    ],
)
async def test_a_malformed_answer_is_502(
    api: Client, llm: respx.Route, admin: Admin, answer: httpx.Response
) -> None:
    llm.mock(return_value=answer)
    cid = await start(api)
    response = await api.post("/chat", json={"message": "hm?", "conversation_id": cid}, headers=SERVICE)
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "provider_malformed_response"
    assert "<html>" not in response.text
    assert roles(await stored(admin, cid)) == ["user"]


async def test_a_4xx_is_502_without_retries(api: Client, llm: respx.Route, admin: Admin) -> None:
    llm.mock(return_value=httpx.Response(401, json={"error": {"message": "invalid api key"}}))
    cid = await start(api)
    response = await api.post("/chat", json={"message": "hi", "conversation_id": cid}, headers=SERVICE)
    assert response.status_code == 502
    assert response.json()["details"]["upstream_status"] == 401
    assert llm.call_count == 1
    assert roles(await stored(admin, cid)) == ["user"]


# -- streaming ---------------------------------------------------------------------------------
async def test_a_streamed_answer(api: Client, llm: respx.Route, admin: Admin) -> None:
    llm.mock(
        return_value=httpx.Response(
            200,
            content=sse_body(["Line ", "999 ", "is on time."]),
            headers={"content-type": "text/event-stream"},
        )
    )
    cid = await start(api)
    response = await api.post(
        "/chat", json={"message": "How is line 999?", "conversation_id": cid, "stream": True}, headers=SERVICE
    )
    assert response.status_code == 200
    body = sent(llm)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # The SDK asks for a stream by the body alone; its Accept stays application/json.
    assert llm.calls.last.request.headers["accept"] == "application/json"
    events = sse_json(response.text)
    assert [name for name, _ in events] == ["start", "delta", "delta", "delta", "done"]
    assert [data["text"] for name, data in events if name == "delta"] == ["Line ", "999 ", "is on time."]
    done = events[-1][1]
    assert done["response"] == "Line 999 is on time."
    assert done["usage"] == {"prompt_tokens": 30, "completion_tokens": 6}
    assert done["model"] == ANSWERED_MODEL
    rows = await stored(admin, cid)
    assert [(r[0], r[1]) for r in rows] == [
        ("user", "How is line 999?"),
        ("assistant", "Line 999 is on time."),
    ]
    assert rows[1][2]["tokens"] == {"prompt": 30, "completion": 6}


async def test_a_stream_cut_off_is_an_error_event_and_stores_no_reply(
    api: Client, llm: respx.Route, admin: Admin
) -> None:
    llm.mock(
        return_value=httpx.Response(
            200,
            content=sse_body(["Line ", "999 is"], complete=False),
            headers={"content-type": "text/event-stream"},
        )
    )
    cid = await start(api)
    response = await api.post(
        "/chat", json={"message": "How is line 999?", "conversation_id": cid, "stream": True}, headers=SERVICE
    )
    assert response.status_code == 200
    events = sse_json(response.text)
    assert [name for name, _ in events] == ["start", "delta", "delta", "error"]
    error = events[-1][1]
    assert set(error) == {"error", "message", "details"}
    assert error["error"] == "provider_unavailable"
    assert error["details"]["conversation_id"] == cid
    assert llm.call_count == 1  # never retried once tokens went out
    assert roles(await stored(admin, cid)) == ["user"]


async def test_a_stream_that_fails_before_its_first_token_is_an_error_event(
    api: Client, llm: respx.Route, admin: Admin
) -> None:
    llm.mock(side_effect=httpx.ReadTimeout("read timed out"))
    cid = await start(api)
    response = await api.post(
        "/chat", json={"message": "hi", "conversation_id": cid, "stream": True}, headers=SERVICE
    )
    events = sse_json(response.text)
    assert [name for name, _ in events] == ["start", "error"]
    assert events[-1][1]["error"] == "provider_timeout"
    assert roles(await stored(admin, cid)) == ["user"]


def sse_chunks(*chunks: dict[str, Any]) -> httpx.Response:
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "model": ANSWERED_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


async def test_a_streamed_tool_round_from_fragments_to_a_keyless_local_server(
    llm_env: None, llm: respx.Route, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A local server (no LLM_API_KEY), sampling settings set: the tool call arrives in
    # fragments split across chunks, is run and stored, then the answer streams.
    monkeypatch.delenv("LLM_API_KEY")
    monkeypatch.setenv("LLM_TEMPERATURE", "0.3")
    monkeypatch.setenv("LLM_MAX_TOKENS", "200")
    call = {
        "index": 0,
        "id": "call_7",
        "type": "function",
        "function": {"name": "calculator", "arguments": ""},
    }
    llm.mock(
        side_effect=[
            sse_chunks(
                chunk({"role": "assistant", "tool_calls": [call]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"expr'}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ession": "6*7"}'}}]}),
                chunk({}, "tool_calls"),
            ),
            sse_chunks(chunk({"content": "It is "}), chunk({"content": "42."}, "stop")),
        ]
    )
    async with api_client(create_app(make_settings())) as client:
        response = await client.post("/chat", json={"message": "6*7?", "stream": True}, headers=SERVICE)
    events = sse_json(response.text)
    assert [name for name, _ in events] == ["start", "tool", "delta", "delta", "done"]
    assert events[1][1]["args"] == {"expression": "6*7"}
    assert events[1][1]["content"] == "6*7 = 42"
    assert events[-1][1]["response"] == "It is 42."
    assert llm.call_count == 2
    for n in (0, 1):
        assert "authorization" not in llm.calls[n].request.headers
        body = sent(llm, n)
        assert (body["temperature"], body["max_tokens"], body["stream"]) == (0.3, 200, True)
        assert body["stream_options"] == {"include_usage": True}
    assert sent(llm, 1)["messages"][-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_7",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression":"6*7"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_7", "content": "6*7 = 42"},
    ]
    rows = await stored(admin, events[0][1]["conversation_id"])
    assert [(r[0], r[1]) for r in rows] == [
        ("user", "6*7?"),
        ("tool", "6*7 = 42"),
        ("assistant", "It is 42."),
    ]


# -- the seed's usage flow, against a model ------------------------------------------------------
async def test_the_seed_usage_flow_with_a_model(llm_env: None, llm: respx.Route) -> None:
    llm.mock(
        side_effect=[
            httpx.Response(200, json=completion("Line 999 is running on time.")),
            httpx.Response(200, json=completion("Line 1000 is delayed by 5 minutes.")),
        ]
    )
    app = create_app(make_settings(server={"API_AUTH": "disabled"}))
    async with api_client(app) as client:
        first = (await client.post("/chat", json={"message": "How is line 999?"})).json()
        cid = first["conversation_id"]
        second = await client.post(
            "/chat", json={"message": "And line 1000?", "conversation_id": cid, "include_history": True}
        )
        assert second.json()["response"] == "Line 1000 is delayed by 5 minutes."
        assert sent(llm, 1)["messages"] == [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "How is line 999?"},
            {"role": "assistant", "content": "Line 999 is running on time."},
            {"role": "user", "content": "And line 1000?"},
        ]
        page = (await client.get(f"/conversations/{cid}")).json()
        assert [m["role"] for m in page["messages"]] == ["user", "assistant", "user", "assistant"]
        assert page["messages"][1]["metadata"]["model"] == ANSWERED_MODEL
        cleared = await client.post(f"/conversations/{cid}/clear")
        assert cleared.json() == {"conversation_id": cid, "cleared": 4}
        assert (await client.get(f"/conversations/{cid}")).json()["messages"] == []
