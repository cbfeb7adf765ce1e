"""Attacks on the live message stream (GET /conversations/{id}/events), over real HTTP and the
real wal2json feed of the local database (issue 22, items 1 and 8).

1. A stream is bound to the conversation row it authorised. Before: Alice's open stream of
   `support-ticket-X` received Bob's messages after the service deleted the conversation and
   created one of the same id for Bob (ids are reused), though a read with her token said 404.
2. A stream ends when its token expires. Before: a stream opened with a token that expired
   after 3 s still delivered a message at 8 s.

Each runs with the live feed (the deletion reaches the stream in commit order) and without it
(`REALTIME_FEED=off`: the stream moves by polling, and every read checks the row).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.config import RealtimeSettings
from app.server import create_app
from tests.api.helpers import SERVICE, as_user, make_settings, new_id
from tests.api.test_events import Events
from tests.harness.servers import serve_app
from tests.harness.sse import COMMENT

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module", params=["postgres", "off"])
async def base_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The app on a free loopback port, with the live feed or without (polling only)."""
    realtime = RealtimeSettings.model_validate(
        {
            "REALTIME_FEED": request.param,
            "REALTIME_HEARTBEAT_SECONDS": 0.3,
            "REALTIME_CHECK_SECONDS": 0.5,
            "REALTIME_DEGRADED_CHECK_SECONDS": 0.5,
        }
    )
    async with serve_app(create_app(make_settings(realtime=realtime))) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


async def _create(http: httpx.AsyncClient, cid: str, owner: uuid.UUID) -> None:
    body = {"conversation_id": cid, "user_id": str(owner), "ttl_hours": 1}
    response = await http.post("/conversations", json=body, headers=SERVICE)
    assert response.status_code == 201, response.text


async def _append(http: httpx.AsyncClient, cid: str, content: str) -> None:
    response = await http.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": content}, headers=SERVICE
    )
    assert response.status_code == 201, response.text


async def _end(events: Events, within: float = 10.0) -> tuple[str, dict[str, Any], list[str]]:
    """Reads to the stream's end event, within `within` seconds however many heartbeats come:
    (its name, its body, the contents of the messages received on the way)."""
    seen: list[str] = []
    async with asyncio.timeout(within):
        while True:
            event, data, _ = await events.next(within)
            if event == COMMENT:
                continue
            body = json.loads(data)
            if event != "message":
                return event, body, seen
            seen.append(body["content"])


@contextlib.asynccontextmanager
async def _stream(
    http: httpx.AsyncClient, cid: str, headers: dict[str, str]
) -> AsyncIterator[tuple[httpx.Response, Events]]:
    async with http.stream(
        "GET", f"/conversations/{cid}/events", headers=headers, params={"after": 0}
    ) as response:
        yield response, Events(response)


async def test_a_reused_id_never_streams_another_users_messages(http: httpx.AsyncClient) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    cid = new_id("support-ticket")
    await _create(http, cid, alice)
    await _append(http, cid, "alice: my card was charged twice")
    async with _stream(http, cid, as_user(alice)) as (response, events):
        assert response.status_code == 200
        first = await events.message()  # replayed: the stream is positioned and live
        assert first["content"] == "alice: my card was charged twice"

        assert (await http.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
        await _create(http, cid, bob)
        for n in range(1, 4):
            await _append(http, cid, f"bob: secret {n}")
        assert (await http.get(f"/conversations/{cid}", headers=as_user(alice))).status_code == 404

        event, body, seen = await _end(events)
        assert seen == []
        assert (event, body["conversation_id"], body["last_seq"]) == ("gone", cid, 1)

    # Bob's own stream of the same id carries his messages; Alice cannot open one.
    async with _stream(http, cid, as_user(bob)) as (_, events):
        assert [(await events.message())["content"] for _ in range(3)] == [
            f"bob: secret {n}" for n in range(1, 4)
        ]
    assert (await http.get(f"/conversations/{cid}/events", headers=as_user(alice))).status_code == 404


async def test_the_same_owners_next_conversation_is_another_stream(http: httpx.AsyncClient) -> None:
    """Deleted and created again for the same user: the old stream still ends (`gone`); the
    new conversation's messages are a new stream's, never the old one's seq 2."""
    alice = uuid.uuid4()
    cid = new_id("reused")
    await _create(http, cid, alice)
    await _append(http, cid, "first conversation")
    async with _stream(http, cid, as_user(alice)) as (_, events):
        await events.message()
        assert (await http.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
        await _create(http, cid, alice)
        await _append(http, cid, "second conversation, seq 1")
        await _append(http, cid, "second conversation, seq 2")
        event, _, seen = await _end(events)
        assert (event, seen) == ("gone", [])


async def test_a_stream_ends_when_its_token_expires(http: httpx.AsyncClient) -> None:
    alice = uuid.uuid4()
    cid = new_id("expiring")
    await _create(http, cid, alice)
    await _append(http, cid, "before")
    expires = int(time.time()) + 3
    token = as_user(alice, exp=expires)
    async with _stream(http, cid, token) as (_, events):
        await events.message()
        await _append(http, cid, "while the token is valid")
        assert (await events.message())["content"] == "while the token is valid"
        event, body, seen = await _end(events)
        assert time.time() >= expires
        assert (event, body["last_seq"], seen) == ("expired", 2, [])
    await _append(http, cid, "after the token expired")
    response = await http.get(f"/conversations/{cid}/events", headers=token)
    assert response.status_code == 401
