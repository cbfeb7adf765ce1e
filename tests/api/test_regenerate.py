"""/chat with `regenerate`: the stored user message answered again, the reply it replaces gone
from the conversation and kept on the new turn (the same rule as the AI SDK's regenerate)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from app.server import create_app
from tests.api.helpers import SERVICE, Client, api_client, make_settings, new_id
from tests.api.test_chat import llm_settings, stored

Admin = psycopg.AsyncConnection[Any]


@pytest.fixture(scope="module")
async def chat() -> AsyncIterator[Client]:
    async with api_client(create_app(make_settings(llm=llm_settings()))) as client:
        yield client


async def test_regenerate_replaces_the_reply_and_keeps_it_on_the_turn(chat: Client, admin: Admin) -> None:
    cid, key = new_id("regen"), f"k-{uuid.uuid4()}"
    assert (
        await chat.post("/conversations", json={"conversation_id": cid}, headers=SERVICE)
    ).status_code == 201
    body = {"message": "What is 6*7?", "conversation_id": cid, "idempotency_key": key}
    first = await chat.post("/chat", json=body, headers=SERVICE)
    assert first.status_code == 200
    before = await stored(admin, cid)
    assert [role for role, _, _ in before] == ["user", "tool", "assistant"]
    again = await chat.post(
        "/chat",
        json={"message": "What is 6*7?", "conversation_id": cid, "idempotency_key": key, "regenerate": True},
        headers=SERVICE,
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["message_id"] != first.json()["message_id"]
    assert [role for role, _, _ in await stored(admin, cid)] == ["user", "tool", "assistant"]
    turn = (await chat.get(f"/turns/{body['turn_id']}", headers=SERVICE)).json()
    assert [m["content"] for m in turn["superseded"]] == [content for _, content, _ in before[1:]]


async def test_regenerate_needs_the_stored_message(chat: Client) -> None:
    missing = await chat.post("/chat", json={"message": "x", "regenerate": True}, headers=SERVICE)
    assert missing.status_code == 422
    assert missing.json()["details"] == [{"key": "idempotency_key", "source": "body"}]
    cid = new_id("regen")
    await chat.post("/conversations", json={"conversation_id": cid}, headers=SERVICE)
    body = {"message": "x", "conversation_id": cid, "idempotency_key": "never", "regenerate": True}
    unknown = await chat.post(
        "/chat", json=body,
        headers=SERVICE,
    )  # fmt: skip
    assert unknown.status_code == 422
