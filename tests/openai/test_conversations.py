"""/v1/conversations and items through the official openai SDK: every endpoint, the limits,
auto-pagination, two users, and the same rows seen by the native API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from tests.api.helpers import SERVICE


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def test_create_retrieve_update_delete(service: AsyncOpenAI) -> None:
    created = await service.conversations.create(metadata={"topic": "demo"}, items=[_user("hello")])
    assert uuid.UUID(created.id)  # the database chose it (users never choose conversation ids)
    assert created.object == "conversation"
    assert created.metadata == {"topic": "demo"}
    assert created.created_at > 0

    fetched = await service.conversations.retrieve(created.id)
    assert fetched.id == created.id
    assert fetched.metadata == {"topic": "demo"}

    updated = await service.conversations.update(created.id, metadata={"topic": "other", "n": "2"})
    assert updated.metadata == {"topic": "other", "n": "2"}

    deleted = await service.conversations.delete(created.id)
    assert deleted.deleted is True
    assert deleted.id == created.id
    assert deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError) as raised:
        await service.conversations.retrieve(created.id)
    assert raised.value.status_code == 404
    body: Any = raised.value.body
    assert set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error"


async def test_items_every_kind_round_trip(service: AsyncOpenAI) -> None:
    conversation = await service.conversations.create()
    created = await service.conversations.items.create(
        conversation.id,
        items=[
            {"type": "message", "role": "developer", "content": "be brief"},
            _user("what is 2+2?"),
            {
                "type": "function_call",
                "call_id": "call_a",
                "name": "calculator",
                "arguments": '{"expression":"2+2"}',
            },
            {"type": "function_call_output", "call_id": "call_a", "output": "4"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "It is"}, {"type": "output_text", "text": "4."}],
            },
            {"type": "function_call_output", "call_id": "call_b", "output": ""},
        ],
    )
    assert [i.type for i in created.data] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
        "function_call_output",
    ]
    developer, user, call, output, reply, empty = created.data
    assert developer.role == "developer"
    assert developer.content[0].text == "be brief"
    assert user.role == "user"
    assert user.content[0].type == "input_text"
    assert call.call_id == "call_a"
    assert call.name == "calculator"
    assert call.arguments == '{"expression":"2+2"}'
    assert output.call_id == "call_a"
    assert output.output == "4"
    assert [p.text for p in reply.content] == ["It is", "4."]
    assert reply.content[0].type == "output_text"
    assert empty.output == ""
    assert created.first_id == developer.id
    assert created.last_id == empty.id
    assert created.has_more is False

    listed = await service.conversations.items.list(conversation.id, order="asc")
    assert [i.id for i in listed.data] == [i.id for i in created.data]
    for item in created.data:
        again = await service.conversations.items.retrieve(item.id, conversation_id=conversation.id)
        assert again.model_dump() == item.model_dump()


async def test_list_defaults_and_auto_pagination(service: AsyncOpenAI) -> None:
    conversation = await service.conversations.create()
    for start in range(0, 45, 15):
        await service.conversations.items.create(
            conversation.id, items=[_user(f"message {n}") for n in range(start, start + 15)]
        )
    page = await service.conversations.items.list(conversation.id)
    assert len(page.data) == 20
    assert page.has_more is True
    assert page.data[0].content[0].text == "message 44"
    texts = [
        item.content[0].text async for item in service.conversations.items.list(conversation.id, limit=7)
    ]
    assert texts == [f"message {n}" for n in range(44, -1, -1)]
    ascending = [
        item.content[0].text
        async for item in service.conversations.items.list(conversation.id, limit=100, order="asc")
    ]
    assert ascending == [f"message {n}" for n in range(45)]
    with pytest.raises(openai.BadRequestError):
        await service.conversations.items.list(conversation.id, limit=101)
    with pytest.raises(openai.BadRequestError):
        await service.conversations.items.list(conversation.id, limit=0)


async def test_delete_item_never_reuses_seq(service: AsyncOpenAI, native: Any) -> None:
    conversation = await service.conversations.create(items=[_user("one"), _user("two")])
    items = (await service.conversations.items.list(conversation.id, order="asc")).data
    after = await service.conversations.items.delete(items[0].id, conversation_id=conversation.id)
    assert after.id == conversation.id
    with pytest.raises(openai.NotFoundError):
        await service.conversations.items.retrieve(items[0].id, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        await service.conversations.items.delete(items[0].id, conversation_id=conversation.id)
    await service.conversations.items.create(conversation.id, items=[_user("three")])
    page = (await native.get(f"/conversations/{conversation.id}")).json()
    assert [(m["seq"], m["content"]) for m in page["messages"]] == [(2, "two"), (3, "three")]
    assert page["message_count"] == 2


async def test_limits(service: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await service.conversations.create(items=[_user(str(n)) for n in range(21)])
    assert raised.value.param == "items"
    with pytest.raises(openai.BadRequestError):
        await service.conversations.create(metadata={f"k{n}": "v" for n in range(17)})
    with pytest.raises(openai.BadRequestError):
        await service.conversations.create(metadata={"k" * 65: "v"})
    with pytest.raises(openai.BadRequestError):
        await service.conversations.create(metadata={"k": "v" * 513})
    conversation = await service.conversations.create(metadata={f"k{n}": "v" * 512 for n in range(16)})
    with pytest.raises(openai.BadRequestError) as raised:
        await service.conversations.items.create(
            conversation.id, items=[{"type": "web_search_call", "id": "x"}]
        )
    assert raised.value.param == "items[0].type"
    with pytest.raises(openai.BadRequestError) as raised:
        await service.conversations.items.create(
            conversation.id,
            items=[
                {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "x"}]}
            ],
        )
    assert raised.value.param == "items[0].content[0].type"


async def test_two_users(alice: AsyncOpenAI, bob: AsyncOpenAI, service: AsyncOpenAI) -> None:
    mine = await alice.conversations.create(items=[_user("alice's secret")])
    item = (await alice.conversations.items.list(mine.id)).data[0]
    for call in (
        bob.conversations.retrieve(mine.id),
        bob.conversations.update(mine.id, metadata={"x": "y"}),
        bob.conversations.delete(mine.id),
        bob.conversations.items.list(mine.id),
        bob.conversations.items.create(mine.id, items=[_user("intruder")]),
        bob.conversations.items.retrieve(item.id, conversation_id=mine.id),
        bob.conversations.items.delete(item.id, conversation_id=mine.id),
    ):
        with pytest.raises(openai.NotFoundError):
            await call
    assert (await alice.conversations.items.list(mine.id)).data[0].id == item.id
    assert (await service.conversations.retrieve(mine.id)).id == mine.id  # the service sees all


async def test_authentication_errors(sdk: Any) -> None:
    async with sdk("not-a-token") as stranger:
        with pytest.raises(openai.AuthenticationError) as raised:
            await stranger.conversations.create()
    assert raised.value.status_code == 401
    assert raised.value.body["type"] == "authentication_error"


async def test_native_and_v1_share_rows(service: AsyncOpenAI, native: Any) -> None:
    """An item created through /v1 is a message of GET /conversations/{id}; a native append is an
    item of items.list."""
    conversation = await service.conversations.create(metadata={"via": "v1"})
    await service.conversations.items.create(conversation.id, items=[_user("from the sdk")])
    page = await native.get(f"/conversations/{conversation.id}")
    assert page.status_code == 200
    body = page.json()
    assert body["metadata"] == {"via": "v1"}
    assert [(m["role"], m["content"]) for m in body["messages"]] == [("user", "from the sdk")]

    appended = await native.post(
        f"/conversations/{conversation.id}/messages",
        json={"role": "assistant", "content": "from the native API"},
    )
    assert appended.status_code == 201
    newest = (await service.conversations.items.list(conversation.id, limit=1)).data[0]
    assert newest.type == "message"
    assert newest.role == "assistant"
    assert newest.content[0].type == "output_text"
    assert newest.content[0].text == "from the native API"
    assert newest.id == f"msg_{appended.json()['id'].replace('-', '')}"
    fetched = await service.conversations.items.retrieve(newest.id, conversation_id=conversation.id)
    assert fetched.id == newest.id


async def test_native_errors_keep_their_shape(native: Any) -> None:
    """The /v1 handlers are scoped to /v1: the native API still answers its own shape."""
    response = await native.get("/conversations/nope-never-there")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "message", "details"}


async def test_unknown_v1_item_is_not_found(service: AsyncOpenAI, base_url: str) -> None:
    conversation = await service.conversations.create()
    with pytest.raises(openai.NotFoundError):
        await service.conversations.items.retrieve("msg_nothing", conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        await service.conversations.items.list(conversation.id, after="msg_nothing")
    async with httpx.AsyncClient() as raw:
        response = await raw.get(f"{base_url}/v1/conversations/conv_missing", headers=SERVICE)
    assert response.status_code == 404
    assert set(response.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }
