"""/turns/{turn_id}: a turn's state, its stream from any position, its stop, and who may see them
(issue 19). A real server (the test client buffers whole answers), the offline model slowed to
50 ms a word so a turn is still running when the test acts on it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from app.server import create_app
from tests.api.helpers import SERVICE, as_user, make_settings, new_id
from tests.api.test_chat import llm_settings, read_until, stored
from tests.harness.servers import serve_app
from tests.harness.sse import SseEvent, read_sse

Admin = psycopg.AsyncConnection[Any]

SLOW = "please answer slowly, word by word, so that there is a moment to act while it runs"


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[str]:
    app = create_app(make_settings(llm=llm_settings(LLM_OFFLINE_DELAY_SECONDS=0.05)))
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        yield client


async def started(
    http: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> tuple[dict[str, Any], SseEvent]:
    """Starts a streamed turn, reads its start and first delta, and leaves."""
    async with http.stream(
        "POST", "/chat", json={"message": SLOW, "stream": True, **body}, headers=headers
    ) as r:
        assert r.status_code == 200, await r.aread()
        events = read_sse(r)
        start = json.loads((await read_until(events, "start")).data)
        delta = await read_until(events, "delta")
    return start, delta


async def events_of(
    http: httpx.AsyncClient, turn_id: str, headers: dict[str, str], **extra: str
) -> list[SseEvent]:
    async with http.stream("GET", f"/turns/{turn_id}/events", headers={**headers, **extra}) as r:
        assert r.status_code == 200, await r.aread()
        return [e async for e in read_sse(r)]


async def test_the_whole_stream_from_the_start_is_the_stored_reply(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    start, _ = await started(http, SERVICE)
    events = await events_of(http, start["turn_id"], SERVICE)
    assert [e.id for e in events] == [str(n) for n in range(len(events))]
    assert events[0].event == "start"
    assert events[-1].event == "done"
    text = "".join(json.loads(e.data)["text"] for e in events if e.event == "delta")
    assert text == json.loads(events[-1].data)["response"]
    rows = await stored(admin, start["conversation_id"])
    assert [r[1] for r in rows if r[0] == "assistant"] == [text]
    turn = (await http.get(f"/turns/{start['turn_id']}", headers=SERVICE)).json()
    assert turn["turn"]["state"] == "completed"
    assert turn["turn"]["event_seq"] == int(events[-1].id or 0)
    assert [m["content"] for m in turn["output"]] == [text]


async def test_stop_stores_what_was_generated_and_ends_every_stream(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    start, _first = await started(http, SERVICE)
    turn_id = start["turn_id"]
    async with http.stream("GET", f"/turns/{turn_id}/events", headers=SERVICE) as reader:
        events = read_sse(reader)
        await read_until(events, "delta")
        stopped = await http.post(f"/turns/{turn_id}/stop", headers=SERVICE)
        assert stopped.status_code == 200, stopped.text
        rest = [e async for e in events]
    body = stopped.json()
    assert body["turn"]["state"] == "stopped"
    assert body["turn"]["result"]["finish_reason"] == "stopped"
    assert rest[-1].event == "stopped"
    result = json.loads(rest[-1].data)
    assert result["finish_reason"] == "stopped"
    # What was generated is stored, and is what the stream carried.
    whole = await events_of(http, turn_id, SERVICE)
    text = "".join(json.loads(e.data)["text"] for e in whole if e.event == "delta")
    assert text
    assert text == result["response"]
    assert not text.endswith("conversation.")
    rows = await stored(admin, start["conversation_id"])
    assert [(r[0], r[1]) for r in rows][1:] == [("assistant", text)]
    assert rows[1][2]["finish_reason"] == "stopped"
    # Idempotent: stopping again answers the stopped turn.
    again = await http.post(f"/turns/{turn_id}/stop", headers=SERVICE)
    assert again.status_code == 200
    assert again.json()["turn"]["state"] == "stopped"
    assert again.json()["turn"]["event_seq"] == body["turn"]["event_seq"]


async def test_stop_of_a_completed_turn_changes_nothing(http: httpx.AsyncClient) -> None:
    answer = (await http.post("/chat", json={"message": "short"}, headers=SERVICE)).json()
    stopped = await http.post(f"/turns/{answer['turn_id']}/stop", headers=SERVICE)
    assert stopped.status_code == 200
    assert stopped.json()["turn"]["state"] == "completed"
    assert stopped.json()["turn"]["stop_requested_at"] is None


async def test_a_retry_of_a_running_turn_follows_it(http: httpx.AsyncClient, admin: Admin) -> None:
    key = new_id("key")
    start, _ = await started(http, SERVICE, idempotency_key=key)
    retry = await http.post(
        "/chat",
        json={"message": SLOW, "conversation_id": start["conversation_id"], "idempotency_key": key},
        headers=SERVICE,
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["turn_id"] == start["turn_id"]
    rows = await stored(admin, start["conversation_id"])
    assert [r[0] for r in rows] == ["user", "assistant"]  # generated once
    assert rows[1][1] == retry.json()["response"]


# -- who may see and stop a turn ---------------------------------------------------------------
async def test_users_see_and_stop_only_their_own_turns(http: httpx.AsyncClient, admin: Admin) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    start, _ = await started(http, as_user(alice))
    turn_id = start["turn_id"]
    for method, path in (
        ("GET", f"/turns/{turn_id}"),
        ("GET", f"/turns/{turn_id}/events"),
        ("POST", f"/turns/{turn_id}/stop"),
    ):
        answer = await http.request(method, path, headers=as_user(bob))
        assert answer.status_code == 404, (method, path, answer.text)
        assert (await http.request(method, path)).status_code == 401  # anonymous
        expired = as_user(alice, exp=int(time.time()) - 60)
        assert (await http.request(method, path, headers=expired)).status_code == 401
    assert (await http.get(f"/turns/{uuid.uuid4()}", headers=as_user(alice))).status_code == 404
    # Bob's stop did not reach it: Alice's turn completes.
    events = await events_of(http, turn_id, as_user(alice))
    assert events[-1].event == "done"
    # Alice stops her own (finished) turn: answered as it is.
    mine = await http.post(f"/turns/{turn_id}/stop", headers=as_user(alice))
    assert mine.status_code == 200
    assert mine.json()["turn"]["state"] == "completed"
    async with admin.cursor() as cur:
        await cur.execute("select count(*) from public.ai_turn_events where turn_id = %s", (turn_id,))
        row = await cur.fetchone()
    assert row is not None
    assert row[0] > 1


async def test_a_bad_last_event_id_is_422(http: httpx.AsyncClient) -> None:
    start, _ = await started(http, SERVICE)
    answer = await http.get(f"/turns/{start['turn_id']}/events", headers={**SERVICE, "Last-Event-ID": "x1"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "validation_error"
