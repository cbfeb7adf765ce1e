"""The database's limits as the API answers them: the message cap, metadata size, timestamps a
reader can parse, and who chooses a conversation id (no oracle for other users' ids)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from tests.api.helpers import SERVICE, Client, as_user, new_id

Create = Callable[..., Awaitable[dict[str, Any]]]
Admin = psycopg.AsyncConnection[Any]


@pytest.fixture
async def cap_of_two(admin: Admin) -> AsyncIterator[None]:
    await admin.execute("update public.ai_conversation_settings set max_messages_per_conversation = 2")
    try:
        yield
    finally:
        await admin.execute(
            "update public.ai_conversation_settings set max_messages_per_conversation = default"
        )


@pytest.mark.usefixtures("cap_of_two")
async def test_an_append_beyond_the_message_cap_is_422_limit_reached(client: Client, create: Create) -> None:
    cid = (await create(messages=2))["conversation_id"]
    response = await client.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": "three"}, headers=SERVICE
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "limit_reached"
    assert (await client.get(f"/conversations/{cid}", headers=SERVICE)).json()["message_count"] == 2


async def test_metadata_is_limited_by_its_json_text(client: Client, create: Create) -> None:
    # 2,500 keys of 1e308: about 800 kB of JSON text, a small jsonb value (defect 8's probe).
    probe = {f"k{i}": 1e308 for i in range(2500)}
    cid = (await create())["conversation_id"]
    appended = await client.post(
        f"/conversations/{cid}/messages",
        json={"role": "user", "content": "x", "metadata": probe},
        headers=SERVICE,
    )
    created = await client.post("/conversations", json={"metadata": probe}, headers=SERVICE)
    for response in (appended, created):
        assert response.status_code == 422, response.text
        assert "the limit is" in response.json()["message"]


async def test_timestamps_out_of_range_cannot_be_stored(client: Client, create: Create, admin: Admin) -> None:
    user = uuid.uuid4()
    cid = (await create(user, messages=1))["conversation_id"]
    for column in ("created_at", "expires_at"):  # updated_at: the update trigger sets it to now()
        with pytest.raises(psycopg.errors.CheckViolation):
            await admin.execute(
                f"update public.ai_conversations set {column} = '-infinity' where conversation_id = %s",  # noqa: S608
                (cid,),
            )
    with pytest.raises(psycopg.errors.CheckViolation):
        await admin.execute(
            "insert into public.ai_conversation_messages (conversation_id, role, content, created_at)"
            " values (%s, 'user', 'x', 'infinity')",
            (cid,),
        )
    # So the reads that used to fail on such a row (GET, export, the listing page) all answer.
    for path in (f"/conversations/{cid}", f"/conversations/{cid}/export", "/conversations?limit=100"):
        assert (await client.get(path, headers=as_user(user))).status_code == 200


async def test_a_user_cannot_learn_whether_an_id_is_taken(client: Client, create: Create) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    bobs = (await create(bob))["conversation_id"]
    anonymous = (await create())["conversation_id"]
    answers = []
    for cid in (bobs, anonymous, new_id("free")):
        response = await client.post("/conversations", json={"conversation_id": cid}, headers=as_user(alice))
        answers.append((response.status_code, response.json()["error"], response.json()["message"]))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][:2] == (403, "forbidden")
    chat = await client.post("/chat", json={"message": "hi", "conversation_id": bobs}, headers=as_user(alice))
    assert chat.status_code == 404  # continuing someone else's conversation: not found, as any read


async def test_a_user_gets_a_generated_id_and_409_for_its_own(client: Client) -> None:
    alice = uuid.uuid4()
    created = await client.post("/conversations", json={}, headers=as_user(alice))
    assert created.status_code == 201
    cid = created.json()["conversation_id"]
    assert uuid.UUID(cid)
    again = await client.post("/conversations", json={"conversation_id": cid}, headers=as_user(alice))
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    # The service still chooses ids, and a taken one is 409 for it.
    chosen = new_id("svc")
    assert (
        await client.post("/conversations", json={"conversation_id": chosen}, headers=SERVICE)
    ).status_code == 201
    assert (
        await client.post("/conversations", json={"conversation_id": chosen}, headers=SERVICE)
    ).status_code == 409
