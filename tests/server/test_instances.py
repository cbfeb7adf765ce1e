"""More than one instance on one database (issue 9, deliverable 8): two server processes.

A message appended through one reaches an event-stream client of the other; a /chat turn on
one is visible on the other at once. Nothing is shared between them but the database.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.harness.processes import api_process
from tests.harness.sse import read_sse

pytestmark = pytest.mark.slow


async def test_two_instances_share_messages_streams_and_chat() -> None:
    cid = f"instances-{uuid.uuid4()}"
    async with api_process() as one, api_process() as two, one.client() as a, two.client() as b:
        assert (
            await a.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1})
        ).status_code == 201

        received: list[dict[str, object]] = []
        subscribed = asyncio.Event()

        async def listen() -> None:
            async with b.stream("GET", f"/conversations/{cid}/events") as response:
                assert response.status_code == 200
                subscribed.set()
                async for event, data, _ in read_sse(response):
                    if event == "message":
                        received.append(json.loads(data))
                        if len(received) == 3:
                            return

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 10)
        appended = await a.post(
            f"/conversations/{cid}/messages", json={"role": "user", "content": "from one"}
        )
        assert appended.status_code == 201

        chat = await a.post("/chat", json={"message": "hello from one", "conversation_id": cid})
        assert chat.status_code == 200, chat.text
        turn = chat.json()
        # The other instance reads the whole turn at once (no cache, no replication lag: one database).
        page = (await b.get(f"/conversations/{cid}")).json()
        assert [(m["role"], m["content"]) for m in page["messages"]] == [
            ("user", "from one"),
            ("user", "hello from one"),
            ("assistant", turn["response"]),
        ]
        assert page["messages"][-1]["id"] == turn["message_id"]

        await asyncio.wait_for(listener, 10)  # every message reached the other instance's stream
    assert [(m["seq"], m["content"]) for m in received] == [
        (1, "from one"),
        (2, "hello from one"),
        (3, turn["response"]),
    ]
