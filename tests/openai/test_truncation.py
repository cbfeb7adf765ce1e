"""`truncation` through the official openai SDK: both modes are the database's token-budgeted
window (CHAT_TOKEN_BUDGET tokens, CHAT_HISTORY_MAX messages). `disabled`, the default as at
OpenAI, refuses with 400 `context_length_exceeded` before storing anything (no input, no fork)
when the history and the input do not fit; `auto` sends the newest that fit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from app.config import LLMSettings
from app.core import services_of
from app.server import create_app
from tests.api.helpers import SERVICE, SERVICE_KEY, make_settings, mint, user_claims
from tests.harness.servers import serve_app

BIG = "word " * 60  # 75 tokens by the database's estimate
HALF = "word " * 40  # 50


async def test_the_default_is_disabled(service: AsyncOpenAI) -> None:
    response = await service.responses.create(model="m", input="hi")
    assert response.truncation == "disabled"
    assert (await service.responses.retrieve(response.id)).truncation == "disabled"


async def test_truncation_disabled_refuses_a_long_history(service: AsyncOpenAI) -> None:
    conversation = await service.conversations.create()
    for _ in range(6):  # 120 messages: more than CHAT_HISTORY_MAX (100)
        await service.conversations.items.create(
            conversation.id, items=[{"role": "user", "content": f"m{n}"} for n in range(20)]
        )
    with pytest.raises(openai.BadRequestError) as raised:
        await service.responses.create(
            model="m", input="x", conversation=conversation.id, truncation="disabled"
        )
    assert raised.value.code == "context_length_exceeded"
    assert len([i async for i in service.conversations.items.list(conversation.id, limit=100)]) == 120
    auto = await service.responses.create(
        model="m", input="x", conversation=conversation.id, truncation="auto"
    )
    assert auto.status == "completed"
    assert auto.truncation == "auto"


@pytest.fixture(scope="module")
async def small_budget() -> AsyncIterator[str]:
    """A server whose history budget is 180 tokens."""
    llm = LLMSettings.model_validate({"CHAT_TOKEN_BUDGET": 180})
    async with serve_app(create_app(make_settings(llm=llm))) as url:
        yield url


async def test_the_token_budget_decides(small_budget: str) -> None:
    key = mint(user_claims(uuid.uuid4()))
    async with (
        AsyncOpenAI(base_url=f"{small_budget}/v1", api_key=key, max_retries=0, timeout=20) as sdk,
        httpx.AsyncClient(base_url=small_budget, headers={"Authorization": f"Bearer {key}"}) as native,
    ):

        async def count(conversation_id: str) -> int:
            return len([i async for i in sdk.conversations.items.list(conversation_id, limit=100)])

        async def conversations() -> int:
            return len((await native.get("/conversations", params={"limit": 100})).json()["conversations"])

        conversation = await sdk.conversations.create(
            items=[{"role": "user", "content": HALF}, {"role": "user", "content": HALF}]
        )
        first = await sdk.responses.create(model="m", input="hi", conversation=conversation.id)
        assert first.truncation == "disabled"
        assert "I saw 2 earlier messages" in first.output_text
        assert await count(conversation.id) == 4  # about 120 tokens

        for truncation in ("disabled", None):  # None: the default
            with pytest.raises(openai.BadRequestError) as raised:
                await sdk.responses.create(
                    model="m",
                    input=BIG,
                    conversation=conversation.id,
                    **({"truncation": truncation} if truncation else {}),  # type: ignore[arg-type]
                )
            assert raised.value.code == "context_length_exceeded"
            assert raised.value.param == "input"
            assert raised.value.status_code == 400
        assert await count(conversation.id) == 4  # nothing stored

        auto = await sdk.responses.create(
            model="m", input=BIG, conversation=conversation.id, truncation="auto"
        )
        assert auto.truncation == "auto"
        assert "I saw 3 earlier messages" in auto.output_text  # the oldest one did not fit
        assert await count(conversation.id) == 6

        # store: false reads the same window and stores nothing
        peek = await sdk.responses.create(
            model="m", input="peek", conversation=conversation.id, store=False, truncation="auto"
        )
        assert "peek" in peek.output_text
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.create(
                model="m", input="peek", conversation=conversation.id, store=False, truncation="disabled"
            )
        assert await count(conversation.id) == 6

        # a fork is checked at its point: the history up to `first` fits with a short input, not
        # with a long one, and a refused request creates no fork
        known = await conversations()
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.responses.create(model="m", input=BIG, previous_response_id=first.id)
        assert raised.value.code == "context_length_exceeded"
        assert await conversations() == known
        forked = await sdk.responses.create(model="m", input="again", previous_response_id=first.id)
        assert forked.conversation is not None
        assert forked.conversation.id != conversation.id
        assert "I saw 4 earlier messages" in forked.output_text
        assert await conversations() == known + 1
        assert await count(conversation.id) == 6

        # an input larger than the budget alone never fits, not even in a new conversation
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.create(model="m", input=BIG * 3)
        assert await conversations() == known + 1
        alone = await sdk.responses.create(model="m", input=BIG * 3, truncation="auto")
        assert alone.status == "completed"


async def test_auto_gets_a_summary_of_what_it_leaves_out() -> None:
    """Through /v1 as through /chat: when what `auto` leaves out exceeds the compaction
    threshold, a summary is written after the output; the response before it stays the latest
    (chaining from it continues the conversation), and `disabled` then refuses."""
    app = create_app(make_settings(llm=LLMSettings.model_validate({"CHAT_TOKEN_BUDGET": 6000})))
    long = "word " * 2000  # 2,500 tokens; the compaction threshold is 4,000
    async with (
        serve_app(app) as url,
        AsyncOpenAI(base_url=f"{url}/v1", api_key=SERVICE_KEY, max_retries=0, timeout=20) as client,
        httpx.AsyncClient(base_url=url, headers=SERVICE, timeout=20) as native,
    ):
        response = await client.responses.create(model="m", input=long, truncation="auto")
        assert response.conversation is not None
        cid = response.conversation.id
        context: dict[str, Any] = {}
        for n in range(8):
            response = await client.responses.create(
                model="m", input=f"{n} {long}", conversation=cid, truncation="auto"
            )
            # The summary is made in the background, after the output (in this event loop).
            await asyncio.wait_for(services_of(app).running.compactor.wait(), 10)
            context = (await native.get(f"/conversations/{cid}/context")).json()
            if context["summary"] is not None:
                break
        summary = context["summary"]
        assert summary is not None
        assert summary["metadata"]["kind"] == "summary"
        items = [i async for i in client.conversations.items.list(cid, order="asc", limit=100)]
        assert items[-1].role == "system"  # the summary, right after the response's output
        assert items[-2].id == response.output[-1].id

        chained = await client.responses.create(
            model="m", input="go on", previous_response_id=response.id, truncation="auto"
        )
        assert chained.conversation is not None
        assert chained.conversation.id == cid  # still the latest: no fork
        with pytest.raises(openai.BadRequestError):  # a summary stands for what was left out
            await client.responses.create(model="m", input="x", conversation=cid)
