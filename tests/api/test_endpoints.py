"""Every row of the endpoint table, on the happy path (service key and user tokens)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tests.api.helpers import SERVICE, Client, as_user, expire, new_id

Create = Callable[..., Awaitable[dict[str, Any]]]

CONVERSATION_KEYS = {
    "conversation_id",
    "user_id",
    "metadata",
    "created_at",
    "updated_at",
    "expires_at",
    "message_count",
}
MESSAGE_KEYS = {"id", "conversation_id", "seq", "role", "content", "metadata", "created_at"}


async def test_health(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "up"


async def test_openapi_schema_is_served_without_a_token(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/conversations",
        "/conversations/{conversation_id}",
        "/conversations/{conversation_id}/messages",
        "/conversations/{conversation_id}/extend",
        "/conversations/{conversation_id}/clear",
        "/conversations/{conversation_id}/export",
        "/conversations/import",
        "/stats",
        "/admin/cleanup",
        "/health",
    ):
        assert path in paths
    assert "bearer" in response.json()["components"]["securitySchemes"]


async def test_create_conversation_with_every_field(client: Client) -> None:
    cid, owner = new_id(), uuid.uuid4()
    response = await client.post(
        "/conversations",
        json={
            "conversation_id": cid,
            "user_id": str(owner),
            "metadata": {"topic": "billing"},
            "ttl_hours": 2,
        },
        headers=SERVICE,
    )
    assert response.status_code == 201
    body = response.json()
    assert body.keys() >= CONVERSATION_KEYS
    assert body["conversation_id"] == cid
    assert body["user_id"] == str(owner)
    assert body["metadata"] == {"topic": "billing"}
    assert body["message_count"] == 0
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["created_at"])
    assert 7190 <= lifetime.total_seconds() <= 7210


async def test_create_conversation_without_a_body_generates_the_id(client: Client) -> None:
    response = await client.post("/conversations", headers=SERVICE)
    assert response.status_code == 201
    body = response.json()
    uuid.UUID(body["conversation_id"])
    assert body["user_id"] is None
    assert body["metadata"] == {}


async def test_a_user_creates_conversations_it_owns(client: Client) -> None:
    user = uuid.uuid4()
    response = await client.post("/conversations", json={"metadata": {"a": 1}}, headers=as_user(user))
    assert response.status_code == 201
    assert response.json()["user_id"] == str(user)
    # Naming itself is fine too.
    response = await client.post("/conversations", json={"user_id": str(user)}, headers=as_user(user))
    assert response.status_code == 201


async def test_list_conversations_pages_with_the_cursor(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    ids = [(await create(user))["conversation_id"] for _ in range(3)]
    first = await client.get("/conversations", params={"limit": 2}, headers=as_user(user))
    assert first.status_code == 200
    page = first.json()
    assert [c["conversation_id"] for c in page["conversations"]] == ids[::-1][:2]
    assert page["next_cursor"]
    second = await client.get(
        "/conversations", params={"limit": 2, "cursor": page["next_cursor"]}, headers=as_user(user)
    )
    assert second.status_code == 200
    assert [c["conversation_id"] for c in second.json()["conversations"]] == [ids[0]]
    assert second.json()["next_cursor"] is None


async def test_list_conversations_default_limit_is_10(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    for _ in range(11):
        await create(user)
    response = await client.get("/conversations", headers=as_user(user))
    assert len(response.json()["conversations"]) == 10
    assert response.json()["next_cursor"]


async def test_the_service_lists_any_users_conversations(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cid = (await create(user))["conversation_id"]
    response = await client.get("/conversations", params={"user_id": str(user)}, headers=SERVICE)
    assert response.status_code == 200
    assert [c["conversation_id"] for c in response.json()["conversations"]] == [cid]
    # A user may name itself.
    response = await client.get("/conversations", params={"user_id": str(user)}, headers=as_user(user))
    assert [c["conversation_id"] for c in response.json()["conversations"]] == [cid]


async def test_get_conversation_returns_messages_oldest_first_and_pages_back(
    client: Client, create: Create
) -> None:
    user = uuid.uuid4()
    cid = (await create(user, messages=5))["conversation_id"]
    response = await client.get(f"/conversations/{cid}", params={"limit": 2}, headers=as_user(user))
    assert response.status_code == 200
    body = response.json()
    assert body.keys() >= CONVERSATION_KEYS
    assert body["message_count"] == 5
    assert [m["seq"] for m in body["messages"]] == [4, 5]
    assert body["messages"][0].keys() >= MESSAGE_KEYS
    assert body["next_cursor"] == 4
    older = await client.get(
        f"/conversations/{cid}", params={"limit": 2, "before": body["next_cursor"]}, headers=as_user(user)
    )
    assert [m["seq"] for m in older.json()["messages"]] == [2, 3]
    oldest = await client.get(
        f"/conversations/{cid}", params={"limit": 2, "before": 2}, headers=as_user(user)
    )
    assert [m["seq"] for m in oldest.json()["messages"]] == [1]
    assert oldest.json()["next_cursor"] is None


async def test_get_conversation_default_limit_is_50(client: Client, create: Create) -> None:
    cid = (await create(messages=51))["conversation_id"]
    body = (await client.get(f"/conversations/{cid}", headers=SERVICE)).json()
    assert len(body["messages"]) == 50
    assert body["messages"][0]["seq"] == 2
    assert body["next_cursor"] == 2


async def test_append_message(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cid = (await create(user))["conversation_id"]
    metadata = {"model": "gpt-x", "tokens": 42, "duration_ms": 812, "tool_calls": [{"name": "calc"}]}
    response = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "assistant", "content": "Hello!", "metadata": metadata},
        headers=as_user(user),
    )
    assert response.status_code == 201
    message = response.json()
    assert message.keys() >= MESSAGE_KEYS
    assert message["conversation_id"] == cid
    assert message["seq"] == 1
    assert message["role"] == "assistant"
    assert message["content"] == "Hello!"
    assert message["metadata"] == metadata
    uuid.UUID(message["id"])


async def test_append_replays_with_the_same_idempotency_key(client: Client, create: Create) -> None:
    cid = (await create())["conversation_id"]
    url = f"/conversations/{cid}/messages"
    first = await client.post(
        url, json={"role": "user", "content": "hi", "idempotency_key": "k1"}, headers=SERVICE
    )
    assert first.status_code == 201
    replay = await client.post(
        url, json={"role": "user", "content": "hi", "idempotency_key": "k1"}, headers=SERVICE
    )
    assert replay.status_code == 200
    assert replay.json() == first.json()
    # The header works the same way, and agrees with the body key.
    by_header = await client.post(
        url, json={"role": "user", "content": "hi"}, headers={**SERVICE, "Idempotency-Key": "k1"}
    )
    assert by_header.status_code == 200
    assert by_header.json()["id"] == first.json()["id"]
    fresh = await client.post(
        url, json={"role": "user", "content": "hi"}, headers={**SERVICE, "Idempotency-Key": "k2"}
    )
    assert fresh.status_code == 201
    assert fresh.json()["seq"] == 2
    count = (await client.get(f"/conversations/{cid}", headers=SERVICE)).json()["message_count"]
    assert count == 2


async def test_extend_conversation(client: Client, create: Create) -> None:
    conversation = await create()
    cid, before = conversation["conversation_id"], datetime.fromisoformat(conversation["expires_at"])
    response = await client.post(f"/conversations/{cid}/extend", json={"hours": 5}, headers=SERVICE)
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"] == cid
    assert (datetime.fromisoformat(body["expires_at"]) - before).total_seconds() == 5 * 3600
    # Without a body: 24 hours.
    again = await client.post(f"/conversations/{cid}/extend", headers=SERVICE)
    assert again.status_code == 200
    delta = datetime.fromisoformat(again.json()["expires_at"]) - datetime.fromisoformat(body["expires_at"])
    assert delta.total_seconds() == 24 * 3600


async def test_clear_conversation(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cid = (await create(user, messages=3))["conversation_id"]
    response = await client.post(f"/conversations/{cid}/clear", headers=as_user(user))
    assert response.status_code == 200
    assert response.json() == {"conversation_id": cid, "cleared": 3}
    body = (await client.get(f"/conversations/{cid}", headers=as_user(user))).json()
    assert body["messages"] == []
    assert body["message_count"] == 0


async def test_delete_conversation(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cid = (await create(user, messages=2))["conversation_id"]
    response = await client.delete(f"/conversations/{cid}", headers=as_user(user))
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/conversations/{cid}", headers=SERVICE)).status_code == 404


async def test_export_then_import_round_trip(client: Client, create: Create) -> None:
    user = uuid.uuid4()
    cid = (await create(user, messages=3, metadata={"k": "v"}))["conversation_id"]
    exported = await client.get(f"/conversations/{cid}/export", headers=as_user(user))
    assert exported.status_code == 200
    document = exported.json()
    assert {"conversation_id", "created_at", "updated_at", "messages", "metadata"} <= document.keys()
    assert [m["content"] for m in document["messages"]] == ["message 1", "message 2", "message 3"]
    assert document["metadata"] == {"k": "v"}

    document["conversation_id"] = copy_id = new_id("copy")
    imported = await client.post("/conversations/import", json=document, headers=SERVICE)
    assert imported.status_code == 201
    body = imported.json()
    assert body["conversation_id"] == copy_id
    assert body["message_count"] == 3
    assert body["user_id"] == str(user)
    copy = (await client.get(f"/conversations/{copy_id}", headers=as_user(user))).json()
    assert [(m["seq"], m["content"]) for m in copy["messages"]] == [
        (1, "message 1"),
        (2, "message 2"),
        (3, "message 3"),
    ]


async def test_import_accepts_bodies_up_to_its_own_limit(client: Client) -> None:
    # Larger than API_MAX_BODY_BYTES (256 KiB here), within API_MAX_IMPORT_BYTES.
    messages = [{"role": "user", "content": "x" * 90_000} for _ in range(4)]
    document = {"conversation_id": new_id("big"), "messages": messages}
    response = await client.post("/conversations/import", json=document, headers=SERVICE)
    assert response.status_code == 201, response.text
    assert response.json()["message_count"] == 4


async def test_stats(client: Client, create: Create) -> None:
    await create(messages=1)
    response = await client.get("/stats", headers=SERVICE)
    assert response.status_code == 200
    stats = response.json()
    assert {"total_conversations", "total_messages", "expired_conversations", "ttl_hours"} <= stats.keys()
    assert stats["total_conversations"] >= 1
    assert stats["total_messages"] >= 1
    assert stats["ttl_hours"] >= 1


async def test_admin_cleanup_removes_expired_conversations(
    client: Client, create: Create, admin: Any
) -> None:
    cid = (await create(messages=2))["conversation_id"]
    await expire(admin, cid)
    response = await client.post("/admin/cleanup", headers=SERVICE)
    assert response.status_code == 200
    assert response.json()["removed"] >= 1
    cur = await admin.execute(
        "select count(*) from public.ai_conversations where conversation_id = %s", (cid,)
    )
    assert (await cur.fetchone()) == (0,)
