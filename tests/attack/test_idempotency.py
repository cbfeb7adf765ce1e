"""An idempotency key names one message (issue 22, item 11).

A retry carries the same role and content and gets the original back (metadata may differ: it
describes the attempt, and the original's is kept). The same key with another role or content
is a client bug (a key reused for another message) and answers 409 `conflict` saying so,
instead of silently answering with the original. Keys the store derives for what a model
writes (a chat turn's reply and tool results, a summary's range) keep the first message
written under them: two attempts of a turn differ in the model's words, not in intent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.api.helpers import SERVICE, Client
from tests.api.test_errors import assert_error

Create = Callable[..., Awaitable[dict[str, Any]]]


async def test_a_key_reused_with_other_content_is_a_409(client: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    url = f"/conversations/{cid}/messages"
    first = await client.post(
        url, json={"role": "user", "content": "pay 10 EUR", "idempotency_key": "k"}, headers=SERVICE
    )
    assert first.status_code == 201, first.text
    other = await client.post(
        url, json={"role": "user", "content": "pay 1000 EUR", "idempotency_key": "k"}, headers=SERVICE
    )
    body = assert_error(other, 409, "conflict")
    assert "idempotency key" in body["message"]
    other_role = await client.post(
        url, json={"role": "assistant", "content": "pay 10 EUR"}, headers={**SERVICE, "Idempotency-Key": "k"}
    )
    assert_error(other_role, 409, "conflict")
    # The retry proper still replays, metadata aside.
    retry = await client.post(
        url,
        json={"role": "user", "content": "pay 10 EUR", "metadata": {"attempt": 2}, "idempotency_key": "k"},
        headers=SERVICE,
    )
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    page = await client.get(f"/conversations/{cid}", headers=SERVICE)
    assert [m["content"] for m in page.json()["messages"]] == ["pay 10 EUR"]


async def test_a_v1_item_id_reused_for_another_item_is_a_409(client: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    url = f"/v1/conversations/{cid}/items"
    item = {"type": "message", "role": "user", "content": "hello", "id": "msg_fixed"}
    assert (await client.post(url, json={"items": [item]}, headers=SERVICE)).status_code == 200
    again = await client.post(url, json={"items": [item]}, headers=SERVICE)
    assert again.status_code == 200, again.text  # an SDK retry
    other = await client.post(url, json={"items": [{**item, "content": "goodbye"}]}, headers=SERVICE)
    assert other.status_code == 409, other.text
    assert "idempotency key" in other.json()["error"]["message"]


async def test_a_chat_turn_retry_replays_and_a_reused_turn_key_is_a_409(client: Client) -> None:
    first = await client.post(
        "/chat", json={"message": "hello", "idempotency_key": "turn-k"}, headers=SERVICE
    )
    assert first.status_code == 200, first.text
    cid = first.json()["conversation_id"]
    again = await client.post(
        "/chat",
        json={"message": "hello", "conversation_id": cid, "idempotency_key": "turn-k"},
        headers=SERVICE,
    )
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True
    assert again.json()["response"] == first.json()["response"]
    other = await client.post(
        "/chat",
        json={"message": "something else", "conversation_id": cid, "idempotency_key": "turn-k"},
        headers=SERVICE,
    )
    assert_error(other, 409, "conflict")
