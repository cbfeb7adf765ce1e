"""One turn behind every face (issue 18): what /v1/responses and /chat cost the store, counted
through the store-call metrics a deployment sees, and the request checked whole before anything
is stored. (Two continuations of one response at once: tests/integration/test_concurrent_turns.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import psycopg
import pytest
from openai import AsyncOpenAI

from tests.api.test_observability import sample

FUNCTIONS = ("begin_turn", "finish_turn", "append_message", "append_messages", "get_response", "context_fits",
             "fork_conversation", "create_conversation", "get_context", "begin_chat_turn")  # fmt: skip


async def _store_calls(native: httpx.AsyncClient, action: Any) -> dict[str, float]:
    """How many store calls of each function `action` cost, from /metrics before and after."""
    before = (await native.get("/metrics")).text
    await action()
    after = (await native.get("/metrics")).text
    counts = {
        name: sample(after, "store_call_duration_seconds_count", function=name)
        - sample(before, "store_call_duration_seconds_count", function=name)
        for name in FUNCTIONS
    }
    return {name: count for name, count in counts.items() if count}


async def test_every_face_begins_with_one_store_call_and_finishes_with_one(
    service: AsyncOpenAI, native: httpx.AsyncClient
) -> None:
    first = await service.responses.create(model="m", input="hello")

    async def chat() -> None:
        assert (await native.post("/chat", json={"message": "hello"})).status_code == 200

    async def create() -> None:
        await service.responses.create(model="m", input="hello")

    async def continued() -> None:
        await service.responses.create(model="m", input="and then?", previous_response_id=first.id)

    async def streamed() -> None:
        async with service.responses.stream(model="m", input="hello") as stream:
            await stream.get_final_response()

    for action in (chat, create, continued, streamed):
        assert await _store_calls(native, action) == {"begin_turn": 1, "finish_turn": 1}, action.__name__


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "function", "name": "bad name!"}]}, "tools[0].name"),
        ({"tools": [{"type": "function", "name": f"t{n}"} for n in range(129)]}, "tools"),
        ({"instructions": "x\u0000y"}, "instructions"),
        ({"metadata": {"k": "v\u0000"}}, "metadata.k"),
        ({"input": [{"role": "user", "content": "a\u0000b"}]}, "input[0].content"),
    ],
)
async def test_the_envelope_is_checked_before_anything_is_stored(
    native: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any], body: dict[str, Any], param: str
) -> None:
    async def turns() -> int:
        cur = await admin.execute("select count(*) from public.ai_turns")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    before = await turns()
    response = await native.post("/v1/responses", json={"model": "m", "input": "hi", **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert await turns() == before


async def test_an_unknown_previous_response_is_the_sdks_not_found(service: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await service.responses.create(model="m", input="x", previous_response_id=f"resp_{'0' * 32}")
    assert raised.value.code == "previous_response_not_found"
