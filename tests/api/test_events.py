"""GET /conversations/{id}/events over real HTTP (uvicorn on loopback), fed by the real
wal2json feed of the local database: live delivery, resume, auth, heartbeats, end events."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from app.config import RealtimeSettings
from app.server import create_app
from tests.api.helpers import SERVICE, as_user, make_settings, mint, new_id, user_claims
from tests.harness.servers import serve_app
from tests.harness.sse import COMMENT, SseReader

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
async def base_url() -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port; fast heartbeats and checks."""
    realtime = RealtimeSettings.model_validate(
        {"REALTIME_HEARTBEAT_SECONDS": 0.3, "REALTIME_CHECK_SECONDS": 0.5, "REALTIME_QUEUE_SIZE": 64}
    )
    async with serve_app(create_app(make_settings(realtime=realtime))) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


async def _create(http: httpx.AsyncClient, user_id: uuid.UUID | None = None) -> str:
    body: dict[str, Any] = {"conversation_id": new_id("sse"), "ttl_hours": 1}
    if user_id:
        body["user_id"] = str(user_id)
    response = await http.post("/conversations", json=body, headers=SERVICE)
    assert response.status_code == 201, response.text
    return str(body["conversation_id"])


async def _append(http: httpx.AsyncClient, cid: str, content: str) -> dict[str, Any]:
    response = await http.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": content}, headers=SERVICE
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


class Events(SseReader):
    """The stream's events, each within a deadline; `message()` skips heartbeats and checks
    that a message's event id is its seq."""

    async def message(self, wait: float = 5.0) -> dict[str, Any]:
        while True:
            event, data, ident = await self.next(wait)
            if event == COMMENT:
                continue
            assert event == "message", (event, data)
            payload: dict[str, Any] = json.loads(data)
            assert ident == str(payload["seq"])
            return payload


@contextlib.asynccontextmanager
async def _stream(
    http: httpx.AsyncClient, cid: str, headers: dict[str, str], **params: Any
) -> AsyncIterator[tuple[httpx.Response, Events]]:
    async with http.stream("GET", f"/conversations/{cid}/events", headers=headers, params=params) as response:
        yield response, Events(response)


async def test_api_append_and_plain_sql_insert_both_reach_the_client(
    http: httpx.AsyncClient, admin: psycopg.AsyncConnection[Any]
) -> None:
    cid = await _create(http)
    async with _stream(http, cid, SERVICE) as (response, events):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await _append(http, cid, "through the API")
        first = await events.message()
        assert (first["seq"], first["content"]) == (1, "through the API")

        await admin.execute(
            "insert into public.ai_conversation_messages (conversation_id, role, content)"
            " values (%s, 'assistant', 'by plain SQL')",
            (cid,),
        )
        second = await events.message()
        assert (second["seq"], second["role"], second["content"]) == (2, "assistant", "by plain SQL")


async def test_the_stream_starts_with_retry_and_is_never_cached_or_buffered(http: httpx.AsyncClient) -> None:
    cid = await _create(http)
    async with _stream(http, cid, SERVICE) as (response, _):
        assert response.headers["cache-control"] == "no-cache, no-transform"
        assert response.headers["x-accel-buffering"] == "no"
        first = await anext(response.aiter_bytes())
        assert first.startswith(b"retry: 2000\n\n")


async def test_resume_replays_exactly_what_was_missed(http: httpx.AsyncClient) -> None:
    cid = await _create(http)
    for n in range(3):
        await _append(http, cid, f"before {n}")
    async with _stream(http, cid, SERVICE, after=0) as (_, events):
        assert [(await events.message())["seq"] for _ in range(3)] == [1, 2, 3]
    # Disconnected: two more arrive meanwhile.
    await _append(http, cid, "missed 1")
    await _append(http, cid, "missed 2")
    async with _stream(http, cid, {**SERVICE, "Last-Event-ID": "3"}) as (_, events):
        replayed = [await events.message() for _ in range(2)]
        assert [(m["seq"], m["content"]) for m in replayed] == [(4, "missed 1"), (5, "missed 2")]
        await _append(http, cid, "live")
        live = await events.message()
        assert (live["seq"], live["content"]) == (6, "live")


async def test_heartbeat_comments_keep_the_stream_alive(http: httpx.AsyncClient) -> None:
    cid = await _create(http)
    async with _stream(http, cid, SERVICE) as (_, events):
        event, text, _ = await events.next(wait=3)
        assert (event, text) == ("comment", "heartbeat")


async def test_deleted_conversation_ends_the_stream_with_gone(http: httpx.AsyncClient) -> None:
    cid = await _create(http)
    async with _stream(http, cid, SERVICE) as (_, events):
        assert (await http.delete(f"/conversations/{cid}", headers=SERVICE)).status_code == 204
        while True:
            event, data, ident = await events.next(wait=5)
            if event != "comment":
                break
        assert event == "gone"
        assert ident is None
        assert json.loads(data)["conversation_id"] == cid


async def test_a_user_streams_its_own_conversation(http: httpx.AsyncClient) -> None:
    owner = uuid.uuid4()
    cid = await _create(http, owner)
    async with _stream(http, cid, as_user(owner)) as (response, events):
        assert response.status_code == 200
        await _append(http, cid, "for the owner")
        assert (await events.message())["content"] == "for the owner"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("another user", 404),
        ("anonymous", 401),
        ("expired token", 401),
        ("forged token", 401),
    ],
)
async def test_others_cannot_stream(http: httpx.AsyncClient, who: str, status: int) -> None:
    owner = uuid.uuid4()
    cid = await _create(http, owner)
    headers = {
        "another user": as_user(uuid.uuid4()),
        "anonymous": {},
        "expired token": as_user(owner, exp=1, iat=0),
        "forged token": {"Authorization": "Bearer " + mint(user_claims(owner), secret="x" * 40)},
    }[who]
    response = await http.get(f"/conversations/{cid}/events", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]


async def test_anonymous_conversations_are_not_streamed_to_users(http: httpx.AsyncClient) -> None:
    cid = await _create(http)  # no user: the service's only
    response = await http.get(f"/conversations/{cid}/events", headers=as_user(uuid.uuid4()))
    assert response.status_code == 404


async def test_bad_resume_position_is_rejected(http: httpx.AsyncClient) -> None:
    cid = await _create(http)
    response = await http.get(f"/conversations/{cid}/events", params={"after": -1}, headers=SERVICE)
    assert response.status_code in (400, 422)
    assert response.json()["error"]


@pytest.mark.parametrize("value", ["²", "١٢", "3.0", "-1", "abc"])
async def test_last_event_id_that_is_not_ascii_digits_is_422(http: httpx.AsyncClient, value: str) -> None:
    """Before: "²" passed str.isdigit() and int() failed: a 500."""
    cid = await _create(http)
    response = await http.get(
        f"/conversations/{cid}/events", headers={**SERVICE, "Last-Event-ID": value.encode()}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["details"] == [{"key": "Last-Event-ID", "source": "header"}]


@pytest.mark.parametrize("resume", ["7", str(2**63), "9" * 40])
async def test_resuming_beyond_the_last_seq_is_a_reset_not_silence(
    http: httpx.AsyncClient, resume: str
) -> None:
    """Before: a Last-Event-ID beyond the last seq (a reused id after expiry restarts seq at
    1; or above int64) received nothing, even after new appends. Now: a `reset` event, the
    conversation from its first message, then live."""
    cid = await _create(http)
    for n in range(3):
        await _append(http, cid, f"m{n + 1}")
    async with _stream(http, cid, {**SERVICE, "Last-Event-ID": resume}) as (response, events):
        assert response.status_code == 200
        event, data, ident = await events.next()
        assert (event, ident) == ("reset", None)
        reset = json.loads(data)
        assert (reset["reason"], reset["conversation_id"], reset["last_seq"]) == ("reset", cid, 3)
        assert [(await events.message())["seq"] for _ in range(3)] == [1, 2, 3]
        await _append(http, cid, "live")
        assert (await events.message())["content"] == "live"


async def test_resuming_at_the_last_seq_is_no_reset(http: httpx.AsyncClient) -> None:
    cid = await _create(http)
    for n in range(2):
        await _append(http, cid, f"m{n + 1}")
    async with _stream(http, cid, {**SERVICE, "Last-Event-ID": "2"}) as (_, events):
        await _append(http, cid, "live")
        assert (await events.message())["seq"] == 3
