"""POST /chat with the offline provider: answers, history, ownership, validation, idempotency,
the two store round trips per turn, streaming, and a client leaving a stream early.

The OpenAI-compatible provider's request and failure classes are in test_chat_provider.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from litestar import Litestar

from app.config import LLMSettings
from app.core import services_of
from app.llm import (
    OFFLINE_MODEL,
    CompletionRequest,
    MalformedResponse,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    StreamEvent,
)
from app.server import create_app
from tests.api.helpers import MAX_BODY, SERVICE, Client, api_client, as_user, expire, make_settings, new_id
from tests.harness.servers import serve_app
from tests.harness.sse import SseEvent, read_sse, sse_json
from tests.harness.store_calls import counting

Create = Callable[..., Awaitable[dict[str, Any]]]
Admin = psycopg.AsyncConnection[Any]

ANSWER_KEYS = {
    "context",
    "conversation_id",
    "response",
    "message_id",
    "model",
    "usage",
    "duration_ms",
    "tool_calls",
    "finish_reason",
    "user_message_id",
    "created",
    "replayed",
    "turn_id",
}


# -- helpers (also used by test_chat_provider.py) ---------------------------------------------
def llm_settings(**values: Any) -> LLMSettings:
    """LLM settings from explicit values only (not the environment): offline by default."""
    return LLMSettings.model_validate(
        {"LLM_PROVIDER": "offline", "LLM_BASE_URL": None, "LLM_API_KEY": None, **values}
    )


async def stored(admin: Admin, conversation_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The conversation's messages in the database: (role, content, metadata), in order."""
    cursor = await admin.execute(
        "select role, content, metadata from public.ai_conversation_messages"
        " where conversation_id = %s order by seq",
        (conversation_id,),
    )
    return [(r[0], r[1], r[2]) for r in await cursor.fetchall()]


async def owned_by(admin: Admin, user_id: uuid.UUID) -> int:
    """How many conversations `user_id` owns."""
    cur = await admin.execute("select count(*) from public.ai_conversations where user_id = %s", (user_id,))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def owner(admin: Admin, conversation_id: str) -> uuid.UUID | None:
    cursor = await admin.execute(
        "select user_id from public.ai_conversations where conversation_id = %s", (conversation_id,)
    )
    row = await cursor.fetchone()
    assert row is not None
    result: uuid.UUID | None = row[0]
    return result


class StubProvider:
    """A provider that fails with `error` (or answers through `inner`), counting its calls."""

    def __init__(self, error: ProviderError | None = None, inner: Any = None) -> None:
        self.error = error
        self.inner = inner
        self.model = "stub"
        self.calls = 0

    async def complete(self, request: CompletionRequest) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return await self.inner.complete(request)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        async for event in self.inner.stream(request):
            yield event

    async def aclose(self) -> None:
        return None


@asynccontextmanager
async def provider_swapped(app: Litestar, provider: Any) -> AsyncIterator[Any]:
    running = services_of(app).running
    original = running.provider
    running.provider = provider
    try:
        yield provider
    finally:
        running.provider = original


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def chat() -> AsyncIterator[Client]:
    """The API (auth required) with the offline provider."""
    async with api_client(create_app(make_settings(llm=llm_settings()))) as client:
        yield client


@pytest.fixture
def started(chat: Client) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Start a conversation with one chat turn; returns the answer."""

    async def start(
        message: str = "hello", headers: dict[str, str] | None = None, **body: Any
    ) -> dict[str, Any]:
        response = await chat.post("/chat", json={"message": message, **body}, headers=headers or SERVICE)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    return start


def echo(message: str, earlier: int) -> str:
    plural = "" if earlier == 1 else "s"
    return (
        f'Offline echo (no model configured): you said "{message}". '
        f"I saw {earlier} earlier message{plural} of this conversation."
    )


# -- answers and what is stored ----------------------------------------------------------------
async def test_chat_without_a_conversation_starts_one(chat: Client, admin: Admin) -> None:
    response = await chat.post("/chat", json={"message": "How is line 999?"}, headers=SERVICE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == ANSWER_KEYS
    assert body["response"] == echo("How is line 999?", 0)
    assert body["model"] == OFFLINE_MODEL
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 19}  # system prompt + message
    assert body["tool_calls"] == []
    assert body["created"] is True
    assert body["replayed"] is False
    assert body["finish_reason"] == "stop"
    assert isinstance(body["duration_ms"], int)
    assert body["duration_ms"] >= 0
    uuid.UUID(body["conversation_id"])

    messages = await stored(admin, body["conversation_id"])
    assert [(role, content) for role, content, _ in messages] == [
        ("user", "How is line 999?"),
        ("assistant", body["response"]),
    ]
    turn = await (
        await admin.execute(
            "select conversation_id, kind, state from public.ai_turns where id = %s", (body["turn_id"],)
        )
    ).fetchone()
    assert turn == (body["conversation_id"], "chat", "completed")
    assert messages[1][2] == {
        "model": OFFLINE_MODEL,
        "tokens": {"prompt": 9, "completion": 19},
        "duration_ms": body["duration_ms"],
        "tool_calls": [],
        "finish_reason": "stop",
    }
    assert await owner(admin, body["conversation_id"]) is None  # the service's, anonymous


async def test_the_answer_ids_are_the_stored_messages(chat: Client, started: Any) -> None:
    answer = await started()
    page = (await chat.get(f"/conversations/{answer['conversation_id']}", headers=SERVICE)).json()
    assert [m["id"] for m in page["messages"]] == [answer["user_message_id"], answer["message_id"]]


async def test_chat_continues_a_conversation_with_its_history(chat: Client, started: Any) -> None:
    first = await started("first")
    cid = first["conversation_id"]
    second = await chat.post("/chat", json={"message": "second", "conversation_id": cid}, headers=SERVICE)
    assert second.status_code == 200
    assert second.json()["created"] is False
    assert second.json()["response"] == echo("second", 2)
    third = await chat.post(
        "/chat", json={"message": "third", "conversation_id": cid, "include_history": True}, headers=SERVICE
    )
    assert third.json()["response"] == echo("third", 4)


async def test_include_history_false_sends_only_the_new_message(chat: Client, started: Any) -> None:
    cid = (await started("first"))["conversation_id"]
    response = await chat.post(
        "/chat", json={"message": "second", "conversation_id": cid, "include_history": False}, headers=SERVICE
    )
    assert response.json()["response"] == echo("second", 0)


async def test_history_limit_is_the_window_the_model_sees(chat: Client, create: Create) -> None:
    cid = (await create(messages=6))["conversation_id"]
    response = await chat.post(
        "/chat", json={"message": "now", "conversation_id": cid, "history_limit": 3}, headers=SERVICE
    )
    assert response.json()["response"] == echo("now", 2)
    default = await chat.post("/chat", json={"message": "again", "conversation_id": cid}, headers=SERVICE)
    assert default.json()["response"] == echo("again", 8)  # CHAT_HISTORY_LIMIT=10 of 9 messages


async def test_history_limit_is_capped_by_the_settings(create: Create) -> None:
    cid = (await create(messages=6))["conversation_id"]
    settings = llm_settings(CHAT_HISTORY_LIMIT=2, CHAT_HISTORY_MAX=4)
    async with api_client(create_app(make_settings(llm=settings))) as client:
        default = await client.post("/chat", json={"message": "a", "conversation_id": cid}, headers=SERVICE)
        assert default.json()["response"] == echo("a", 1)
        capped = await client.post(
            "/chat", json={"message": "b", "conversation_id": cid, "history_limit": 1000}, headers=SERVICE
        )
        assert capped.json()["response"] == echo("b", 3)


async def test_metadata_goes_on_the_user_message_and_the_new_conversation(chat: Client, admin: Admin) -> None:
    response = await chat.post(
        "/chat",
        json={
            "message": "hi",
            "metadata": {"client": "web", "locale": "fr"},
            "conversation_metadata": {"channel": "support"},
        },
        headers=SERVICE,
    )
    body = response.json()
    messages = await stored(admin, body["conversation_id"])
    assert messages[0][2] == {"client": "web", "locale": "fr"}
    page = (await chat.get(f"/conversations/{body['conversation_id']}", headers=SERVICE)).json()
    assert page["metadata"] == {"channel": "support"}


async def test_a_tool_call_is_stored_as_a_tool_message(chat: Client, admin: Admin) -> None:
    response = await chat.post("/chat", json={"message": "what is 2+2"}, headers=SERVICE)
    body = response.json()
    assert body["tool_calls"] == [{"tool": "calculator", "args": {"expression": "2+2"}}]
    assert body["response"] == 'Tool results for "what is 2+2": calculator: 2+2 = 4.'
    messages = await stored(admin, body["conversation_id"])
    assert [m[0] for m in messages] == ["user", "tool", "assistant"]
    assert messages[1][1] == "2+2 = 4"
    assert messages[1][2]["tool"] == "calculator"
    assert messages[1][2]["args"] == {"expression": "2+2"}
    assert messages[1][2]["is_error"] is False
    assert messages[2][2]["tool_calls"] == [{"tool": "calculator", "args": {"expression": "2+2"}}]


# -- ownership ---------------------------------------------------------------------------------
async def test_a_users_conversation_is_its_own(chat: Client, admin: Admin) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    body = (await chat.post("/chat", json={"message": "mine"}, headers=as_user(user))).json()
    cid = body["conversation_id"]
    assert await owner(admin, cid) == user
    again = await chat.post("/chat", json={"message": "more", "conversation_id": cid}, headers=as_user(user))
    assert again.status_code == 200
    assert again.json()["response"] == echo("more", 2)
    foreign = await chat.post("/chat", json={"message": "x", "conversation_id": cid}, headers=as_user(other))
    assert foreign.status_code == 404
    assert foreign.json()["error"] == "not_found"
    assert len(await stored(admin, cid)) == 4


async def test_a_user_may_name_itself_as_user_id(chat: Client, admin: Admin) -> None:
    user = uuid.uuid4()
    response = await chat.post("/chat", json={"message": "hi", "user_id": str(user)}, headers=as_user(user))
    assert response.status_code == 200
    assert await owner(admin, response.json()["conversation_id"]) == user


async def test_a_user_naming_another_user_id_is_403(chat: Client, started: Any, admin: Admin) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    async with counting(chat.app) as transport:
        response = await chat.post(
            "/chat", json={"message": "hi", "user_id": str(other)}, headers=as_user(user)
        )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    # The rule is the database's (begin_turn): one call, refused before anything is stored.
    assert transport.calls == ["begin_turn"]
    assert await owned_by(admin, other) == 0
    cid = (await started("mine", headers=as_user(user)))["conversation_id"]
    continued = await chat.post(
        "/chat", json={"message": "x", "conversation_id": cid, "user_id": str(other)}, headers=as_user(user)
    )
    assert continued.status_code == 403
    assert len(await stored(admin, cid)) == 2


async def test_the_service_starts_conversations_for_a_user(chat: Client, admin: Admin) -> None:
    user = uuid.uuid4()
    body = (await chat.post("/chat", json={"message": "hi", "user_id": str(user)}, headers=SERVICE)).json()
    assert await owner(admin, body["conversation_id"]) == user
    page = await chat.get(f"/conversations/{body['conversation_id']}", headers=as_user(user))
    assert page.status_code == 200


async def test_a_user_cannot_chat_in_an_anonymous_conversation(chat: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    response = await chat.post(
        "/chat", json={"message": "x", "conversation_id": cid}, headers=as_user(uuid.uuid4())
    )
    assert response.status_code == 404


async def test_chat_needs_a_token(chat: Client) -> None:
    response = await chat.post("/chat", json={"message": "hi"})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


# -- 404 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
async def test_an_unknown_conversation_is_404(chat: Client, stream: bool) -> None:
    cid = new_id()
    response = await chat.post(
        "/chat", json={"message": "hi", "conversation_id": cid, "stream": stream}, headers=SERVICE
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "not_found"
    assert (await chat.get(f"/conversations/{cid}", headers=SERVICE)).status_code == 404  # not created


@pytest.mark.parametrize("stream", [False, True])
async def test_an_expired_conversation_is_404(chat: Client, started: Any, admin: Admin, stream: bool) -> None:
    cid = (await started())["conversation_id"]
    await expire(admin, cid)
    response = await chat.post(
        "/chat", json={"message": "hi", "conversation_id": cid, "stream": stream}, headers=SERVICE
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert len(await stored(admin, cid)) == 2


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "key"),
    [
        pytest.param({}, "body", id="missing-message"),
        pytest.param({"message": ""}, "message", id="empty-message"),
        pytest.param({"message": " \n\t "}, "message", id="blank-message"),
        pytest.param({"message": 42}, "message", id="message-not-a-string"),
        pytest.param({"message": "hi", "colour": "red"}, "body", id="unknown-field"),
        pytest.param({"message": "hi", "conversation_id": "has space"}, "conversation_id", id="bad-id"),
        pytest.param({"message": "hi", "conversation_id": 7}, "conversation_id", id="id-int"),
        pytest.param({"message": "hi", "include_history": "yes"}, "include_history", id="history-str"),
        pytest.param({"message": "hi", "history_limit": 0}, "history_limit", id="history-limit-0"),
        pytest.param({"message": "hi", "history_limit": "5"}, "history_limit", id="history-limit-str"),
        pytest.param({"message": "hi", "history_limit": 2**31}, "history_limit", id="history-limit-big"),
        pytest.param({"message": "hi", "user_id": "bob"}, "user_id", id="user-id-not-uuid"),
        pytest.param({"message": "hi", "metadata": [1]}, "metadata", id="metadata-array"),
        pytest.param({"message": "hi", "conversation_metadata": "x"}, "conversation_metadata", id="cmeta"),
        pytest.param({"message": "hi", "idempotency_key": ""}, "idempotency_key", id="empty-key"),
        pytest.param({"message": "hi", "idempotency_key": "k" * 256}, "idempotency_key", id="long-key"),
        pytest.param({"message": "hi", "stream": "true"}, "stream", id="stream-str"),
        pytest.param(["message", "hi"], "body", id="not-an-object"),
    ],
)
async def test_bad_chat_bodies_are_422_before_the_database(chat: Client, payload: Any, key: str) -> None:
    async with counting(chat.app) as transport:
        response = await chat.post("/chat", json=payload, headers=SERVICE)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == "validation_error"
    assert body["details"][0]["key"] == key
    assert transport.calls == []


async def test_unknown_field_names_the_field(chat: Client) -> None:
    response = await chat.post("/chat", json={"message": "hi", "temperature": 2}, headers=SERVICE)
    assert response.status_code == 422
    assert "temperature" in response.json()["details"][0]["message"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"message": "a\u0000b"}, id="message"),
        pytest.param({"message": "ok", "metadata": {"k": "v\u0000"}}, id="metadata"),
        pytest.param({"message": "ok", "idempotency_key": "k\u0000"}, id="key"),
    ],
)
async def test_nul_characters_are_422(chat: Client, payload: dict[str, Any]) -> None:
    async with counting(chat.app) as transport:
        response = await chat.post("/chat", json=payload, headers=SERVICE)
    assert response.status_code == 422
    assert "NUL" in response.json()["message"]
    assert transport.calls == []


async def test_malformed_json_is_400(chat: Client) -> None:
    response = await chat.post(
        "/chat", content=b'{"message": ', headers={**SERVICE, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


async def test_a_missing_body_is_422(chat: Client) -> None:
    response = await chat.post("/chat", headers=SERVICE)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


async def test_an_oversize_message_is_422_and_stores_nothing(
    chat: Client, started: Any, admin: Admin
) -> None:
    # The database's max_content_chars (100,000 by default); the body is within the size limit.
    cid = (await started())["conversation_id"]
    response = await chat.post(
        "/chat", json={"message": "x" * 100_001, "conversation_id": cid}, headers=SERVICE
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert len(await stored(admin, cid)) == 2
    # Without an id: the conversation the turn would have started is rolled back with it.
    marker = new_id("chat-oversize")
    response = await chat.post(
        "/chat", json={"message": "x" * 100_001, "conversation_metadata": {"marker": marker}}, headers=SERVICE
    )
    assert response.status_code == 422
    cursor = await admin.execute(
        "select count(*) from public.ai_conversations where metadata->>'marker' = %s", (marker,)
    )
    assert await cursor.fetchone() == (0,)


async def test_a_body_over_the_size_limit_is_413(chat: Client) -> None:
    response = await chat.post("/chat", json={"message": "x" * (MAX_BODY + 1)}, headers=SERVICE)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


# -- idempotency -------------------------------------------------------------------------------
async def test_a_retried_turn_returns_the_stored_reply(chat: Client, started: Any, admin: Admin) -> None:
    cid = (await started())["conversation_id"]
    key = new_id("key")
    first = await chat.post(
        "/chat", json={"message": "once", "conversation_id": cid, "idempotency_key": key}, headers=SERVICE
    )
    stub = StubProvider(inner=services_of(chat.app).running.provider)
    async with provider_swapped(chat.app, stub), counting(chat.app) as transport:
        again = await chat.post(
            "/chat",
            json={"message": "once", "conversation_id": cid},
            headers={**SERVICE, "Idempotency-Key": key},
        )
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert {k: v for k, v in again.json().items() if k != "replayed"} == {
        k: v for k, v in first.json().items() if k != "replayed"
    }
    assert stub.calls == 0  # the model is not asked again
    assert transport.calls == ["begin_turn"]  # which returned the stored reply
    assert [m[0] for m in await stored(admin, cid)] == ["user", "assistant", "user", "assistant"]


async def test_the_key_in_body_and_header_must_agree(chat: Client) -> None:
    response = await chat.post(
        "/chat", json={"message": "hi", "idempotency_key": "a"}, headers={**SERVICE, "Idempotency-Key": "b"}
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["key"] == "idempotency_key"


# -- provider failures (the classes themselves: test_chat_provider.py) --------------------------
@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        pytest.param(ProviderTimeout("model provider timed out"), 504, "provider_timeout", id="timeout"),
        pytest.param(
            ProviderHTTPError("model provider answered 500: boom", upstream_status=500),
            502,
            "provider_http_error",
            id="http",
        ),
        pytest.param(
            MalformedResponse("bad", details="<html>"), 502, "provider_malformed_response", id="bad"
        ),
    ],
)
async def test_a_provider_failure_keeps_the_user_message(
    chat: Client, started: Any, admin: Admin, error: ProviderError, status: int, code: str
) -> None:
    cid = (await started())["conversation_id"]
    key = new_id("key")
    async with provider_swapped(chat.app, StubProvider(error)):
        response = await chat.post(
            "/chat",
            json={"message": "fails", "conversation_id": cid, "idempotency_key": key},
            headers=SERVICE,
        )
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"error", "message", "details"}
        assert body["error"] == code
        assert body["details"]["conversation_id"] == cid
        assert body["details"]["created"] is False
        assert "<html>" not in response.text  # raw provider output stays in the log
        retry = await chat.post(
            "/chat",
            json={"message": "fails", "conversation_id": cid, "idempotency_key": key},
            headers=SERVICE,
        )
        assert retry.status_code == status
        assert retry.json()["details"]["user_message_id"] == body["details"]["user_message_id"]
    assert [m[0] for m in await stored(admin, cid)] == ["user", "assistant", "user"]
    # The provider is back: the same key completes the turn, still with one user message.
    done = await chat.post(
        "/chat", json={"message": "fails", "conversation_id": cid, "idempotency_key": key}, headers=SERVICE
    )
    assert done.status_code == 200
    assert done.json()["user_message_id"] == body["details"]["user_message_id"]
    assert [m[0] for m in await stored(admin, cid)] == ["user", "assistant", "user", "assistant"]


async def test_a_failed_first_turn_names_the_conversation_it_started(chat: Client, admin: Admin) -> None:
    async with provider_swapped(chat.app, StubProvider(ProviderTimeout("slow"))):
        response = await chat.post("/chat", json={"message": "hello?"}, headers=SERVICE)
    assert response.status_code == 504
    details = response.json()["details"]
    assert details["created"] is True
    assert [(m[0], m[1]) for m in await stored(admin, details["conversation_id"])] == [("user", "hello?")]


# -- two round trips per turn ------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
async def test_a_plain_turn_is_two_round_trips(chat: Client, started: Any, stream: bool) -> None:
    cid = (await started())["conversation_id"]
    async with counting(chat.app) as transport:
        response = await chat.post(
            "/chat", json={"message": "hi", "conversation_id": cid, "stream": stream}, headers=SERVICE
        )
        assert response.status_code == 200
    assert transport.calls == ["begin_turn", "finish_turn"]


async def test_starting_a_conversation_is_two_round_trips(chat: Client) -> None:
    async with counting(chat.app) as transport:
        response = await chat.post("/chat", json={"message": "hi", "idempotency_key": "k1"}, headers=SERVICE)
        assert response.status_code == 200
    assert transport.calls == ["begin_turn", "finish_turn"]


@pytest.mark.parametrize(
    ("message", "tool_results"),
    [
        pytest.param("what is 2+2", 1, id="calculator"),
        pytest.param("what time is it in Europe/Paris, and what is 6*7", 2, id="two-tools"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_turn_adds_one_round_trip_per_tool_result(
    chat: Client, started: Any, message: str, tool_results: int, stream: bool
) -> None:
    cid = (await started())["conversation_id"]
    async with counting(chat.app) as transport:
        response = await chat.post(
            "/chat", json={"message": message, "conversation_id": cid, "stream": stream}, headers=SERVICE
        )
        assert response.status_code == 200
    assert transport.calls == ["begin_turn", *["append_message"] * tool_results, "finish_turn"]
    assert len(transport.calls) == 2 + tool_results


# -- streaming ---------------------------------------------------------------------------------
async def test_a_streamed_turn(chat: Client, started: Any, admin: Admin) -> None:
    cid = (await started("first"))["conversation_id"]
    response = await chat.post(
        "/chat", json={"message": "tell me more", "conversation_id": cid, "stream": True}, headers=SERVICE
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = sse_json(response.text)
    names = [name for name, _ in events]
    assert names[0] == "start"
    assert names[-1] == "done"
    assert set(names[1:-1]) == {"delta"}
    assert len(names) > 3  # word by word
    start, done = events[0][1], events[-1][1]
    assert start == {
        "conversation_id": cid,
        "user_message_id": start["user_message_id"],
        "created": False,
        "replayed": False,
        "turn_id": done["turn_id"],
    }
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert text == done["response"] == echo("tell me more", 2)
    assert set(done) == ANSWER_KEYS
    assert done["model"] == OFFLINE_MODEL
    assert done["usage"]["completion_tokens"] == len(text.split())
    messages = await stored(admin, cid)
    assert [(m[0], m[1]) for m in messages[2:]] == [("user", "tell me more"), ("assistant", text)]
    page = (await chat.get(f"/conversations/{cid}", headers=SERVICE)).json()
    assert page["messages"][-1]["id"] == done["message_id"]
    assert page["messages"][-2]["id"] == start["user_message_id"] == done["user_message_id"]
    assert messages[3][2]["duration_ms"] == done["duration_ms"]


async def test_a_streamed_turn_that_starts_a_conversation(chat: Client, admin: Admin) -> None:
    response = await chat.post("/chat", json={"message": "hi", "stream": True}, headers=SERVICE)
    events = sse_json(response.text)
    assert events[0][0] == "start"
    assert events[0][1]["created"] is True
    assert events[-1][1]["created"] is True
    assert len(await stored(admin, events[0][1]["conversation_id"])) == 2


async def test_a_streamed_tool_turn_reports_the_stored_tool_result(chat: Client, admin: Admin) -> None:
    response = await chat.post("/chat", json={"message": "what is 3*4", "stream": True}, headers=SERVICE)
    events = sse_json(response.text)
    assert [name for name, _ in events][:2] == ["start", "tool"]
    tool = events[1][1]
    assert tool["tool"] == "calculator"
    assert tool["args"] == {"expression": "3*4"}
    assert tool["content"] == "3*4 = 12"
    assert tool["is_error"] is False
    assert tool["round"] == 1
    done = events[-1][1]
    assert done["tool_calls"] == [{"tool": "calculator", "args": {"expression": "3*4"}}]
    page = (await chat.get(f"/conversations/{done['conversation_id']}", headers=SERVICE)).json()
    assert [m["role"] for m in page["messages"]] == ["user", "tool", "assistant"]
    assert page["messages"][1]["id"] == tool["message_id"]


async def test_a_provider_failure_mid_stream_is_an_error_event(
    chat: Client, started: Any, admin: Admin
) -> None:
    cid = (await started())["conversation_id"]
    async with provider_swapped(chat.app, StubProvider(ProviderTimeout("model provider timed out"))):
        response = await chat.post(
            "/chat", json={"message": "x", "conversation_id": cid, "stream": True}, headers=SERVICE
        )
    assert response.status_code == 200  # the status went out with the start event
    events = sse_json(response.text)
    assert [name for name, _ in events] == ["start", "error"]
    error = events[-1][1]
    assert set(error) == {"error", "message", "details"}
    assert error["error"] == "provider_timeout"
    assert error["details"]["conversation_id"] == cid
    assert error["details"]["user_message_id"] == events[0][1]["user_message_id"]
    assert [m[0] for m in await stored(admin, cid)] == ["user", "assistant", "user"]


async def test_a_retried_stream_replays_the_stored_reply(chat: Client, started: Any) -> None:
    cid = (await started())["conversation_id"]
    body = {"message": "again", "conversation_id": cid, "idempotency_key": new_id("key"), "stream": True}
    first = sse_json((await chat.post("/chat", json=body, headers=SERVICE)).text)
    second = sse_json((await chat.post("/chat", json=body, headers=SERVICE)).text)
    assert [name for name, _ in second] == ["start", "delta", "done"]
    assert second[0][1]["replayed"] is True
    assert second[-1][1]["replayed"] is True
    assert second[-1][1]["message_id"] == first[-1][1]["message_id"]
    assert second[1][1]["text"] == first[-1][1]["response"]


# -- a client leaving mid-stream (a real server: the test client buffers whole answers) ---------
@pytest.fixture(scope="module")
async def slow_server() -> AsyncIterator[str]:
    """A real server with an offline provider that takes 50 ms per word."""
    app = create_app(make_settings(llm=llm_settings(LLM_OFFLINE_DELAY_SECONDS=0.05)))
    async with serve_app(app) as url:
        yield url


async def read_until(events: AsyncIterator[SseEvent], name: str) -> SseEvent:
    async for event in events:
        if event.event == name:
            return event
    raise AssertionError(f"the stream ended before a {name} event")


def roles(rows: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [role for role, _, _ in rows]


async def test_a_client_leaving_mid_stream_gets_its_reply_stored_whole(
    slow_server: str, admin: Admin
) -> None:
    """Issue 19: a disconnect never cancels generation. The client leaves after the first delta;
    the turn runs on, its reply is stored, and the stream resumed after the last event it saw
    gives the rest: the pieces joined are the stored reply."""
    key = new_id("key")
    message = "please answer slowly, word by word, so that I can leave in the middle of it"
    body = {"message": message, "stream": True, "idempotency_key": key}
    async with httpx.AsyncClient(base_url=slow_server, timeout=10) as http:
        async with http.stream("POST", "/chat", json=body, headers=SERVICE) as response:
            assert response.status_code == 200
            events = read_sse(response)
            start = await read_until(events, "start")
            first = await read_until(events, "delta")
        # The connection is closed here, with most of the answer still to come.
        begun = json.loads(start.data)
        assert start.id == "0"
        assert first.id is not None
        async with http.stream(
            "GET", f"/turns/{begun['turn_id']}/events", headers={**SERVICE, "Last-Event-ID": first.id}
        ) as resumed:
            rest = [event async for event in read_sse(resumed)]
        assert [int(e.id or -1) for e in rest] == list(
            range(int(first.id) + 1, int(first.id) + 1 + len(rest))
        )
        assert rest[-1].event == "done"
        text = json.loads(first.data)["text"] + "".join(json.loads(e.data)["text"] for e in rest[:-1])
        done = json.loads(rest[-1].data)
        assert text == done["response"]

        # The same turn retried (same key, in the conversation it started) answers the stored
        # reply, and stores the user message once.
        retry = await http.post(
            "/chat",
            json={**body, "conversation_id": begun["conversation_id"], "stream": False},
            headers=SERVICE,
        )
        assert retry.status_code == 200, retry.text
        assert retry.json()["user_message_id"] == begun["user_message_id"]
        assert retry.json()["replayed"] is True
    rows = await stored(admin, begun["conversation_id"])
    assert roles(rows) == ["user", "assistant"]
    assert rows[1][1] == text


async def test_a_stream_read_to_the_end_on_the_real_server_stores_the_reply(
    slow_server: str, admin: Admin
) -> None:
    async with httpx.AsyncClient(base_url=slow_server, timeout=10) as http:
        response = await http.post("/chat", json={"message": "short one", "stream": True}, headers=SERVICE)
    events = sse_json(response.text)
    assert events[-1][0] == "done"
    rows = await stored(admin, events[0][1]["conversation_id"])
    assert [(r[0], r[1]) for r in rows] == [("user", "short one"), ("assistant", events[-1][1]["response"])]


# -- the seed's usage flow ---------------------------------------------------------------------
async def test_the_seed_usage_flow_without_a_token() -> None:
    """As in `make run` (API_AUTH=disabled on loopback): start a conversation, continue it with
    its history, read it back, clear it."""
    settings = make_settings(server={"API_AUTH": "disabled"})
    settings.llm = llm_settings()
    async with api_client(create_app(settings)) as client:
        first = await client.post("/chat", json={"message": "How is line 999?"})
        assert first.status_code == 200, first.text
        cid = first.json()["conversation_id"]
        assert first.json()["response"] == echo("How is line 999?", 0)

        second = await client.post(
            "/chat",
            json={"message": "And line 1000?", "conversation_id": cid, "include_history": True},
        )
        assert second.status_code == 200
        assert second.json()["conversation_id"] == cid
        assert second.json()["response"] == echo("And line 1000?", 2)

        page = await client.get(f"/conversations/{cid}")
        assert page.status_code == 200
        messages = page.json()["messages"]
        assert [(m["role"], m["content"]) for m in messages] == [
            ("user", "How is line 999?"),
            ("assistant", first.json()["response"]),
            ("user", "And line 1000?"),
            ("assistant", second.json()["response"]),
        ]
        assert messages[1]["metadata"]["model"] == OFFLINE_MODEL
        assert messages[1]["metadata"]["tokens"] == {"prompt": 9, "completion": 19}

        cleared = await client.post(f"/conversations/{cid}/clear")
        assert cleared.status_code == 200
        assert cleared.json() == {"conversation_id": cid, "cleared": 4}
        after = (await client.get(f"/conversations/{cid}")).json()
        assert after["messages"] == []
        assert after["message_count"] == 0

        fresh = await client.post("/chat", json={"message": "Start over", "conversation_id": cid})
        assert fresh.json()["response"] == echo("Start over", 0)


async def test_chat_is_in_the_openapi_document(chat: Client) -> None:
    schema = (await chat.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/chat"]["post"]
    assert {"200", "403", "404", "422", "502", "504"} <= set(operation["responses"])
    assert "text/event-stream" in operation["description"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    properties = schema["components"]["schemas"]["ChatIn"]["properties"]
    assert {"message", "conversation_id", "include_history", "user_id", "idempotency_key", "stream"} <= set(
        properties
    )
