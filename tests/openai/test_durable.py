"""Replies that outlive their connection, through the official openai SDK (issue 19): background
mode polled with retrieve, a stream resumed with `starting_after`, cancel, and responses.compact
driven by the Agents SDK's OpenAIResponsesCompactionSession. The offline model is slowed to 50 ms
a word so a response is still running when the test acts on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, SQLiteSession, set_tracing_disabled
from agents.memory import OpenAIResponsesCompactionSession
from openai import AsyncOpenAI, NotFoundError

from app.openai_api.compaction import read_summary
from app.server import create_app
from tests.api.helpers import SERVICE_KEY, make_settings
from tests.api.test_chat import llm_settings
from tests.harness.servers import serve_app
from tests.openai.conftest import user_key

SLOW = "please answer slowly, word by word, so that there is a moment to act while it runs"


@pytest.fixture(scope="module")
async def slow_url() -> AsyncIterator[str]:
    app = create_app(make_settings(llm=llm_settings(LLM_OFFLINE_DELAY_SECONDS=0.05)))
    async with serve_app(app) as url:
        yield url


def client(url: str, key: str = SERVICE_KEY) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


async def test_background_is_polled_to_completion(slow_url: str) -> None:
    sdk = client(slow_url)
    created = await sdk.responses.create(model="any", input=SLOW, background=True)
    assert created.status == "in_progress"
    assert created.background is True
    # Poll as the SDK's users do; the stream of the same response says when it is done.
    stream = await sdk.responses.retrieve(created.id, stream=True)
    async for _ in stream:
        pass
    done = await sdk.responses.retrieve(created.id)
    assert done.status == "completed"
    assert SLOW.split()[0] in done.output_text


async def test_a_dropped_stream_resumes_after_its_last_sequence_number(slow_url: str) -> None:
    sdk = client(slow_url)
    seen: list[Any] = []
    stream = await sdk.responses.create(model="any", input=SLOW, stream=True, background=True)
    async for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta" and len(seen) > 6:
            break  # the connection drops here
    await stream.close()
    response_id = seen[0].response.id
    resumed = await sdk.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number)
    rest = [event async for event in resumed]
    numbers = [e.sequence_number for e in seen + rest]
    assert numbers == list(range(len(numbers)))  # no gap, no duplicate
    text = "".join(e.delta for e in seen + rest if e.type == "response.output_text.delta")
    assert rest[-1].type == "response.completed"
    assert text == rest[-1].response.output_text == (await sdk.responses.retrieve(response_id)).output_text


async def test_cancel_stores_what_was_generated(slow_url: str) -> None:
    sdk = client(slow_url)
    created = await sdk.responses.create(model="any", input=SLOW, background=True)
    stream = await sdk.responses.retrieve(created.id, stream=True)
    async for event in stream:
        if event.type == "response.output_text.delta":
            break
    await stream.close()
    cancelled = await sdk.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert cancelled.output_text
    assert not cancelled.output_text.endswith("conversation.")
    again = await sdk.responses.cancel(created.id)  # idempotent
    assert again.status == "cancelled"
    assert again.output_text == cancelled.output_text
    whole = [e async for e in await sdk.responses.retrieve(created.id, stream=True)]
    assert whole[-1].type == "response.incomplete"
    assert whole[-1].response.status == "cancelled"
    assert "".join(e.delta for e in whole if e.type == "response.output_text.delta") == cancelled.output_text


async def test_another_users_response_cannot_be_cancelled_or_streamed(slow_url: str) -> None:
    alice, bob = client(slow_url, user_key(uuid.uuid4())), client(slow_url, user_key(uuid.uuid4()))
    created = await alice.responses.create(model="any", input=SLOW, background=True)
    with pytest.raises(NotFoundError):
        await bob.responses.cancel(created.id)
    with pytest.raises(NotFoundError):
        await bob.responses.retrieve(created.id, stream=True)
    stream = await alice.responses.retrieve(created.id, stream=True)
    events = [e async for e in stream]
    assert events[-1].type == "response.completed"  # Bob's cancel did not reach it


async def test_compact_a_stored_response_and_read_it_back(slow_url: str) -> None:
    sdk = client(slow_url)
    first = await sdk.responses.create(model="any", input="My name is Ada and I like graphs.")
    second = await sdk.responses.create(model="any", input="What do I like?", previous_response_id=first.id)
    compacted = await sdk.responses.compact(model="gpt-4.1", previous_response_id=second.id)
    assert compacted.object == "response.compaction"
    assert [item.type for item in compacted.output] == ["message", "message", "compaction"]
    item = compacted.output[-1]
    # Sent back as input, the compaction item is the summary the model reads.
    follow = await sdk.responses.create(
        model="any",
        input=[item.model_dump(exclude_none=True), {"role": "user", "content": "and now?"}],
    )
    assert follow.status == "completed"
    assert follow.conversation is not None
    stored = (await sdk.conversations.items.list(follow.conversation.id, order="asc")).data
    assert stored[0].type == "compaction"
    assert stored[0].encrypted_content == item.encrypted_content  # type: ignore[union-attr]
    summary = read_summary(item.encrypted_content)  # type: ignore[union-attr]
    assert summary is not None
    assert "Ada" in summary


async def test_the_agents_sdk_compaction_session_works_end_to_end(slow_url: str, tmp_path: Any) -> None:
    set_tracing_disabled(True)  # no traces sent anywhere
    sdk = client(slow_url)
    session = OpenAIResponsesCompactionSession(
        session_id="durable",
        underlying_session=SQLiteSession("durable", str(tmp_path / "session.db")),
        client=sdk,
        model="gpt-4.1",
        should_trigger_compaction=lambda context: len(context["compaction_candidate_items"]) >= 2,
    )
    agent = Agent(name="echo", model=OpenAIResponsesModel(model="gpt-4.1", openai_client=sdk))
    for text in ("I am Ada.", "I like graphs.", "What do I like?"):
        await Runner.run(agent, text, session=session)
    items = await session.get_items()
    assert any(isinstance(i, dict) and i.get("type") == "compaction" for i in items)
