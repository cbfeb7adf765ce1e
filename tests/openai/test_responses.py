"""/v1/responses through the official openai SDK: a turn in a conversation, chains of
previous_response_id and the fork from an earlier response, function tools round trips,
retrieve / input_items / delete, store false, every error class, two users, and the native
views (truncation: test_truncation)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from app.config import LLMSettings
from app.server import create_app
from tests.api.helpers import SERVICE_KEY, make_settings
from tests.harness.servers import serve_app

CALCULATOR = {
    "type": "function",
    "name": "calculator",
    "description": "Evaluate an arithmetic expression.",
    "parameters": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}


async def test_response_in_a_conversation(service: AsyncOpenAI, native: httpx.AsyncClient) -> None:
    conversation = await service.conversations.create(metadata={"app": "demo"})
    response = await service.responses.create(
        model="any-model", input="Hello there", conversation=conversation.id, metadata={"k": "v"}
    )
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.conversation is not None
    assert response.conversation.id == conversation.id
    assert response.output_text.startswith('Offline echo (no model configured): you said "Hello there"')
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens > 0
    assert response.metadata == {"k": "v"}
    assert response.model.startswith("offline-echo")

    second = await service.responses.create(
        model="m", input="And again", conversation={"id": conversation.id}
    )
    assert "I saw 2 earlier messages" in second.output_text

    items = [i async for i in service.conversations.items.list(conversation.id, order="asc")]
    assert [(i.type, i.role) for i in items] == [("message", "user"), ("message", "assistant")] * 2
    assert items[1].id == response.output[0].id
    assert items[1].content[0].text == response.output_text

    page = (await native.get(f"/conversations/{conversation.id}")).json()
    reply = page["messages"][1]
    assert reply["role"] == "assistant"
    assert reply["metadata"]["model"].startswith("offline-echo")
    assert reply["metadata"]["tokens"]["completion"] == response.usage.output_tokens
    assert reply["metadata"]["openai"]["response_id"] == response.id


async def test_previous_response_id_chain(service: AsyncOpenAI, native: httpx.AsyncClient) -> None:
    first = await service.responses.create(model="m", input=[{"role": "user", "content": "first"}])
    assert first.conversation is not None  # a stored response always lives in a conversation
    listed = (await native.get("/conversations", params={"limit": 100})).json()["conversations"]
    assert first.conversation.id in [c["conversation_id"] for c in listed]

    second = await service.responses.create(model="m", input="second", previous_response_id=first.id)
    assert second.conversation is not None
    assert second.conversation.id == first.conversation.id
    assert second.previous_response_id == first.id
    assert "I saw 2 earlier messages" in second.output_text

    with pytest.raises(openai.NotFoundError):
        await service.responses.create(model="m", input="x", previous_response_id="resp_unknown")
    with pytest.raises(openai.BadRequestError) as bad:
        await service.responses.create(
            model="m", input="x", previous_response_id=second.id, conversation=first.conversation.id
        )
    assert bad.value.param == "previous_response_id"


async def test_previous_response_id_not_the_latest_forks(
    service: AsyncOpenAI, native: httpx.AsyncClient
) -> None:
    """Continuing from an earlier response forks its conversation after that response: the
    original stays as it was, the fork holds the first exchange and the new turn."""
    first = await service.responses.create(model="m", input="first")
    second = await service.responses.create(model="m", input="second", previous_response_id=first.id)
    assert first.conversation is not None
    assert second.conversation is not None
    original = first.conversation.id
    before = [i async for i in service.conversations.items.list(original, order="asc")]

    third = await service.responses.create(model="m", input="instead", previous_response_id=first.id)
    assert third.status == "completed"
    assert third.previous_response_id == first.id
    assert third.conversation is not None
    fork = third.conversation.id
    assert fork != original
    assert "I saw 2 earlier messages" in third.output_text  # the first exchange, not the second

    after = [i async for i in service.conversations.items.list(original, order="asc")]
    assert [(i.id, i.content[0].text) for i in after] == [(i.id, i.content[0].text) for i in before]
    assert len(after) == 4
    forked = [i async for i in service.conversations.items.list(fork, order="asc")]
    assert [(i.role, i.content[0].text) for i in forked] == [
        ("user", "first"),
        ("assistant", first.output_text),
        ("user", "instead"),
        ("assistant", third.output_text),
    ]
    assert forked[3].id == third.output[0].id

    page = (await native.get(f"/conversations/{fork}")).json()
    assert page["metadata"]["forked_from"] == {"conversation_id": original, "seq": 2}
    # each response stays where it was written; the fork's copies belong to no response
    assert (await service.responses.retrieve(first.id)).conversation.id == original  # type: ignore[union-attr]
    assert (await service.responses.retrieve(third.id)).conversation.id == fork  # type: ignore[union-attr]
    assert [i.content[0].text for i in (await service.responses.input_items.list(first.id)).data] == ["first"]

    # the fork's latest response continues in the fork; the first one forks again
    fourth = await service.responses.create(model="m", input="more", previous_response_id=third.id)
    assert fourth.conversation is not None
    assert fourth.conversation.id == fork
    again = await service.responses.create(model="m", input="again", previous_response_id=first.id)
    assert again.conversation is not None
    assert again.conversation.id not in (original, fork)
    assert len([i async for i in service.conversations.items.list(original)]) == 4

    # deleting the first response deletes its own items, not the forks' copies
    await service.responses.delete(first.id)
    assert len([i async for i in service.conversations.items.list(original)]) == 2
    assert len([i async for i in service.conversations.items.list(fork)]) == 6


async def test_a_users_fork_is_theirs(alice: AsyncOpenAI, bob: AsyncOpenAI) -> None:
    first = await alice.responses.create(model="m", input="mine")
    await alice.responses.create(model="m", input="later", previous_response_id=first.id)
    forked = await alice.responses.create(
        model="m", input="other way", previous_response_id=first.id, stream=False
    )
    assert forked.conversation is not None
    assert len((await alice.conversations.items.list(forked.conversation.id)).data) == 4
    with pytest.raises(openai.NotFoundError):
        await bob.conversations.items.list(forked.conversation.id)
    with pytest.raises(openai.NotFoundError):
        await bob.responses.create(model="m", input="x", previous_response_id=first.id)


async def test_retrieve_input_items_delete(service: AsyncOpenAI) -> None:
    response = await service.responses.create(
        model="m",
        instructions="Answer briefly.",
        input=[
            {"role": "developer", "content": "context"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "question"}]},
        ],
    )
    again = await service.responses.retrieve(response.id)
    assert again.id == response.id
    assert again.output_text == response.output_text
    assert again.instructions == "Answer briefly."
    assert [o.id for o in again.output] == [o.id for o in response.output]
    assert again.usage == response.usage

    inputs = await service.responses.input_items.list(response.id)
    assert [i.role for i in inputs.data] == ["user", "developer"]  # newest first
    ascending = [i async for i in service.responses.input_items.list(response.id, order="asc", limit=1)]
    assert [i.content[0].text for i in ascending] == ["context", "question"]

    await service.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        await service.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        await service.responses.delete(response.id)
    assert response.conversation is not None
    assert (await service.conversations.items.list(response.conversation.id)).data == []


async def test_function_tool_round_trip(service: AsyncOpenAI) -> None:
    conversation = await service.conversations.create()
    asked = await service.responses.create(
        model="m", input="What is 2+2?", tools=[CALCULATOR], conversation=conversation.id
    )
    calls = [o for o in asked.output if o.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "calculator"
    assert json.loads(call.arguments) == {"expression": "2+2"}
    assert asked.output_text == ""

    answered = await service.responses.create(
        model="m",
        conversation=conversation.id,
        tools=[CALCULATOR],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "4"}],
    )
    assert answered.output_text == 'Tool results for "What is 2+2?": calculator: 4.'
    items = [i async for i in service.conversations.items.list(conversation.id, order="asc")]
    assert [i.type for i in items] == ["message", "function_call", "function_call_output", "message"]
    assert items[1].id == call.id
    assert items[2].call_id == call.call_id

    # the same round trip statelessly chained with previous_response_id
    chained = await service.responses.create(model="m", input="What is 3*3?", tools=[CALCULATOR])
    chained_call = next(o for o in chained.output if o.type == "function_call")
    done = await service.responses.create(
        model="m",
        previous_response_id=chained.id,
        tools=[CALCULATOR],
        input=[{"type": "function_call_output", "call_id": chained_call.call_id, "output": "9"}],
    )
    assert done.output_text == 'Tool results for "What is 3*3?": calculator: 9.'


async def test_store_false_writes_nothing(service: AsyncOpenAI) -> None:
    response = await service.responses.create(model="m", input="ephemeral", store=False)
    assert response.conversation is None
    assert "ephemeral" in response.output_text
    with pytest.raises(openai.NotFoundError):
        await service.responses.retrieve(response.id)
    conversation = await service.conversations.create(items=[{"role": "user", "content": "kept"}])
    peek = await service.responses.create(model="m", input="peek", store=False, conversation=conversation.id)
    assert "I saw 1 earlier message" in peek.output_text
    assert len((await service.conversations.items.list(conversation.id)).data) == 1


async def test_invalid_requests(service: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await service.responses.create(model="m", input=[{"type": "web_search_call"}])
    assert raised.value.param == "input[0].type"
    with pytest.raises(openai.BadRequestError) as raised:
        await service.responses.create(model="m", input="x", tools=[{"type": "web_search"}])
    assert raised.value.param == "tools[0].type"
    with pytest.raises(openai.BadRequestError):
        await service.responses.create(model="m", input="x", truncation="sometimes")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        await service.responses.create(model="m", input=[])
    with pytest.raises(openai.NotFoundError):
        await service.responses.create(model="m", input="x", conversation="conv_does_not_exist")


async def test_two_users(alice: AsyncOpenAI, bob: AsyncOpenAI) -> None:
    mine = await alice.responses.create(model="m", input="alice's question")
    assert mine.conversation is not None
    for call in (
        bob.responses.retrieve(mine.id),
        bob.responses.input_items.list(mine.id),
        bob.responses.delete(mine.id),
        bob.responses.create(model="m", input="x", previous_response_id=mine.id),
        bob.responses.create(model="m", input="x", conversation=mine.conversation.id),
    ):
        with pytest.raises(openai.NotFoundError):
            await call
    assert (await alice.responses.retrieve(mine.id)).id == mine.id


async def test_provider_failure_and_client_errors(sdk: Any) -> None:
    """502 from an unreachable model is the SDK's InternalServerError; a timeout and a dead
    server are its APITimeoutError and APIConnectionError."""
    llm = LLMSettings.model_validate(
        {"LLM_PROVIDER": "openai", "LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MAX_RETRIES": 0}
    )
    async with (
        serve_app(create_app(make_settings(llm=llm))) as url,
        AsyncOpenAI(base_url=f"{url}/v1", api_key=SERVICE_KEY, max_retries=0) as broken,
    ):
        with pytest.raises(openai.InternalServerError) as raised:
            await broken.responses.create(model="m", input="hi")
        assert raised.value.status_code == 502
        assert raised.value.body["type"] == "server_error"
        with pytest.raises(openai.APITimeoutError):
            await broken.conversations.create(timeout=0.000001)
    async with AsyncOpenAI(base_url=f"{url}/v1", api_key=SERVICE_KEY, max_retries=0) as gone:
        with pytest.raises(openai.APIConnectionError):
            await gone.conversations.create()


async def test_permission_and_size_errors(service: AsyncOpenAI) -> None:
    """A cross-site Origin on an auth-disabled server is the SDK's PermissionDeniedError; a body
    over API_MAX_BODY_BYTES is an APIStatusError with 413; both in OpenAI's error shape."""
    settings = make_settings(server={"API_AUTH": "disabled"})
    async with (
        serve_app(create_app(settings)) as url,
        AsyncOpenAI(
            base_url=f"{url}/v1",
            api_key=SERVICE_KEY,
            max_retries=0,
            default_headers={"Origin": "https://drive-by.example"},
        ) as cross_site,
    ):
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await cross_site.conversations.create()
    assert denied.value.status_code == 403
    assert denied.value.body["type"] == "permission_error"
    conversation = await service.conversations.create()
    with pytest.raises(openai.APIStatusError) as large:
        await service.conversations.items.create(
            conversation.id, items=[{"role": "user", "content": "x" * (300 * 1024)}]
        )
    assert large.value.status_code == 413
    assert set(large.value.body) == {"message", "type", "param", "code"}
