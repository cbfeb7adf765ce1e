"""/api/chat over a real server (the Node tests in tests/js/ai_sdk.test.mjs drive it with the real
`ai` package; these check the exact wire format, every 4xx before a stream starts, stop and the
empty resume). The offline model is slowed, so a reply still runs when the test acts on it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from app.server import create_app
from tests.api.helpers import SERVICE, as_user, make_settings, new_id
from tests.api.test_chat import llm_settings

Admin = psycopg.AsyncConnection[Any]
SLOW = "please answer slowly, word by word, so that there is a moment to act while it runs"


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[str]:
    from tests.harness.servers import serve_app

    app = create_app(make_settings(llm=llm_settings(LLM_OFFLINE_DELAY_SECONDS=0.03)))
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        yield client


def ui(text: str, message_id: str | None = None, role: str = "user") -> dict[str, Any]:
    return {"id": message_id or f"u-{uuid.uuid4()}", "role": role, "parts": [{"type": "text", "text": text}]}


async def chunks(response: httpx.Response) -> AsyncIterator[dict[str, Any] | str]:
    """The stream's chunks as JSON, then the string "[DONE]"."""
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            body = line.removeprefix("data: ")
            yield body if body == "[DONE]" else json.loads(body)


async def chat(http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] = SERVICE) -> list[Any]:
    async with http.stream("POST", "/api/chat", json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
        assert response.headers["content-type"].startswith("text/event-stream")
        return [c async for c in chunks(response)]


async def test_a_turn_is_the_ui_message_stream_protocol(http: httpx.AsyncClient, admin: Admin) -> None:
    chat_id = new_id("ui")
    sent = await chat(http, {"id": chat_id, "messages": [ui("What is 6*7?")], "trigger": "submit-message"})
    assert sent[-1] == "[DONE]"
    types = [c["type"] for c in sent[:-1]]
    assert types[0] == "start"
    assert types[1] == "start-step"
    assert types[-2:] == ["finish-step", "finish"]
    assert "tool-input-available" in types
    assert "tool-output-available" in types
    assert types.count("start-step") == types.count("finish-step") == 2  # a tool round, then the answer
    start, finish = sent[0], sent[-2]
    assert finish["finishReason"] == "stop"
    assert finish["messageMetadata"]["conversationId"] == chat_id
    assert finish["messageMetadata"]["usage"]["outputTokens"] > 0
    text = "".join(c["delta"] for c in sent[:-1] if c["type"] == "text-delta")
    cur = await admin.execute(
        "select content, idempotency_key from public.ai_conversation_messages"
        " where conversation_id = %s and role = 'assistant'",
        [chat_id],
    )
    assert await cur.fetchall() == [(text, start["messageId"])]  # the announced id is the stored one


@pytest.mark.parametrize(
    ("body", "status", "key"),
    [
        ({"messages": [ui("x")]}, 400, None),
        ({"id": "chat-x", "messages": []}, 400, None),
        ({"id": "chat-x", "messages": [ui("answer", role="assistant")]}, 422, "messages"),
        ({"id": "chat-x", "messages": [{"id": "a", "role": "user", "parts": [{"type": "file", "url": "x"}]}]},
         422, "messages[0].parts"),
        ({"id": "chat-x", "messages": [{"id": "", "role": "user", "parts": []}]}, 400, None),
        ({"id": "chat-x", "messages": [{"id": "a", "role": "robot", "parts": []}]}, 400, None),
        ({"id": "..", "messages": [ui("x")]}, 400, None),
        ({"id": "chat-x", "messages": [ui("a\u0000b")]}, 422, None),
    ],
)  # fmt: skip
async def test_bad_input_is_a_4xx_before_any_stream(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, key: str | None
) -> None:
    response = await http.post("/api/chat", json=body, headers=SERVICE)
    assert response.status_code in (status, 422 if status == 400 else status), response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()
    assert error["error"]
    assert error["message"]
    if key is not None:
        assert error["details"][0]["key"] == key


async def test_a_users_chat_must_exist_and_be_theirs(http: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    unknown = await http.post(
        "/api/chat", json={"id": new_id("ui"), "messages": [ui("hi")]}, headers=as_user(alice)
    )
    assert unknown.status_code in (403, 404)
    created = await http.post("/conversations", json={}, headers=as_user(alice))
    chat_id = created.json()["conversation_id"]
    theirs = await http.post("/api/chat", json={"id": chat_id, "messages": [ui("hi")]}, headers=as_user(bob))
    assert theirs.status_code == 404
    assert (await http.get(f"/api/chat/{chat_id}", headers=as_user(bob))).status_code == 404
    assert (await http.get(f"/api/chat/{chat_id}/stream", headers=as_user(bob))).status_code == 404
    assert (await http.post(f"/api/chat/{chat_id}/stop", headers=as_user(bob))).status_code == 404
    assert (await http.get(f"/api/chat/{chat_id}", headers={})).status_code == 401


async def test_stop_ends_the_reply_with_abort_and_keeps_what_was_said(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    chat_id = new_id("ui")
    body = {"id": chat_id, "messages": [ui(SLOW)], "trigger": "submit-message"}
    async with http.stream("POST", "/api/chat", json=body, headers=SERVICE) as response:
        seen: list[Any] = []
        async for chunk in chunks(response):
            seen.append(chunk)
            if isinstance(chunk, dict) and chunk["type"] == "text-delta" and len(seen) > 6:
                stopped = await http.post(f"/api/chat/{chat_id}/stop", headers=SERVICE)
                assert stopped.status_code == 204
    types = [c["type"] if isinstance(c, dict) else c for c in seen]
    assert types[-2:] == ["abort", "[DONE]"]
    said = "".join(c["delta"] for c in seen if isinstance(c, dict) and c["type"] == "text-delta")
    cur = await admin.execute(
        "select content, metadata->>'finish_reason' from public.ai_conversation_messages"
        " where conversation_id = %s and role = 'assistant'",
        [chat_id],
    )
    assert await cur.fetchall() == [(said, "stopped")]
    # Nothing is running now: the resume route answers 204, and a stop changes nothing.
    assert (await http.get(f"/api/chat/{chat_id}/stream", headers=SERVICE)).status_code == 204
    assert (await http.post(f"/api/chat/{chat_id}/stop", headers=SERVICE)).status_code == 204
