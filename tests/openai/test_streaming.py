"""/v1/responses with stream: true through the SDK: the raw event sequence
(`responses.create(stream=True)`), the SDK's accumulating helper (`responses.stream(...)`),
streamed function calls, a failing model, and the stored result seen on the native SSE feed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from app.config import LLMSettings
from app.server import create_app
from tests.api.helpers import SERVICE_KEY, make_settings
from tests.harness.servers import serve_app
from tests.harness.sse import read_sse
from tests.openai.test_responses import CALCULATOR


async def test_raw_event_sequence(service: AsyncOpenAI) -> None:
    conversation = await service.conversations.create()
    stream = await service.responses.create(
        model="m", input="stream me", conversation=conversation.id, stream=True
    )
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1].response
    assert completed.output_text == deltas
    assert completed.status == "completed"
    assert events[0].response.status == "in_progress"
    assert events[0].response.id == completed.id
    added = events[2].item
    assert added.id == completed.output[0].id
    stored = await service.responses.retrieve(completed.id)
    assert stored.output_text == deltas
    assert stored.output[0].id == added.id


async def test_stream_helper(service: AsyncOpenAI) -> None:
    async with service.responses.stream(model="m", input="helper please") as stream:
        texts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert final.output_text == "".join(texts)
    assert final.status == "completed"
    assert final.conversation is not None
    assert (await service.responses.retrieve(final.id)).output_text == final.output_text


async def test_streamed_function_call_round_trip(service: AsyncOpenAI) -> None:
    async with service.responses.stream(model="m", input="What is 6*7?", tools=[CALCULATOR]) as stream:
        kinds = [e.type async for e in stream]
        asked = await stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    call = next(o for o in asked.output if o.type == "function_call")
    assert json.loads(call.arguments) == {"expression": "6*7"}
    async with service.responses.stream(
        model="m",
        previous_response_id=asked.id,
        tools=[CALCULATOR],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "42"}],
    ) as stream:
        answered = await stream.get_final_response()
    assert answered.output_text == 'Tool results for "What is 6*7?": calculator: 42.'


async def test_a_failing_model_ends_with_response_failed() -> None:
    llm = LLMSettings.model_validate(
        {"LLM_PROVIDER": "openai", "LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MAX_RETRIES": 0}
    )
    async with (
        serve_app(create_app(make_settings(llm=llm))) as url,
        AsyncOpenAI(base_url=f"{url}/v1", api_key=SERVICE_KEY, max_retries=0) as broken,
    ):
        stream = await broken.responses.create(model="m", input="hi", stream=True)
        events = [e async for e in stream]
    assert [e.type for e in events] == ["response.created", "response.in_progress", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "provider_unavailable"


async def test_unknown_conversation_is_a_real_404(service: AsyncOpenAI) -> None:
    try:
        await service.responses.create(model="m", input="x", conversation="conv_nope", stream=True)
    except openai.NotFoundError:
        return
    raise AssertionError("expected a 404 before the stream starts")


async def test_v1_items_on_the_native_feed(service: AsyncOpenAI, base_url: str) -> None:
    """What /v1 stores reaches the native SSE feed like any append."""
    conversation = await service.conversations.create()
    seen: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=20) as http,
            http.stream(
                "GET",
                f"/conversations/{conversation.id}/events",
                headers={"Authorization": f"Bearer {SERVICE_KEY}", "Accept": "text/event-stream"},
            ) as feed,
        ):
            subscribed.set()  # the stream's headers come once the hub has positioned it
            async for event in read_sse(feed):
                if event.event == "message":
                    seen.append(json.loads(event.data))
                    if len(seen) == 2:
                        return

    task = asyncio.create_task(listen())
    await asyncio.wait_for(subscribed.wait(), 10)
    response = await service.responses.create(model="m", input="live", conversation=conversation.id)
    try:
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [m["role"] for m in seen] == ["user", "assistant"]
    assert seen[1]["content"] == response.output_text
