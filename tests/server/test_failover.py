"""Failover without errors (issue 9, defect 3 and deliverable 3), on the real server.

Postgres restarts (scripts/stack.sh down / up) while the API is idle, then while it is under
load. Once the database accepts connections again, no request may fail: the pool tests a
connection the server closed before handing it out (app.db.check_stale), and a call whose
connection breaks under it is sent again only when it may run twice (reads, and appends under
an idempotency key: the store gives every append one). Before: the next 16 requests after an
idle restart (one per pooled connection) answered 503, and 16 of 32 concurrent appends failed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import check_local_stack, stack
from tests.harness.processes import ApiProcess, api_process
from tests.harness.waiting import eventually, until

pytestmark = [pytest.mark.slow, pytest.mark.disruptive]


async def restart_postgres(database_url: str) -> float:
    """Stops and starts the stack's Postgres; returns when it accepts connections (the time)."""
    await stack("down")
    await asyncio.sleep(0.3)  # down for a moment: the outage is what is under test
    await stack("up")

    async def accepts() -> bool:
        try:
            conn = await psycopg.AsyncConnection.connect(database_url, connect_timeout=2)
        except psycopg.OperationalError:
            return False
        await conn.close()
        return True

    await eventually(accepts, within=60)
    return time.perf_counter()


async def fill_the_pool(http: httpx.AsyncClient, cid: str) -> None:
    """32 concurrent reads: the pool grows to its 16 connections."""
    responses = await asyncio.gather(*(http.get(f"/conversations/{cid}") for _ in range(32)))
    assert {r.status_code for r in responses} == {200}


def append(http: httpx.AsyncClient, cid: str, content: str) -> Any:
    return http.post(f"/conversations/{cid}/messages", json={"role": "user", "content": content})


async def contents(admin_url: str, cid: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        cur = await conn.execute(
            "select content from public.ai_conversation_messages where conversation_id = %s order by seq",
            (cid,),
        )
        return [row[0] for row in await cur.fetchall()]


@pytest.fixture
async def server(database_url: str) -> Any:
    check_local_stack(database_url)
    async with api_process({"REALTIME_FEED": "off"}) as process:
        yield process


async def test_an_idle_restart_fails_no_request(server: ApiProcess, database_url: str) -> None:
    cid = f"failover-idle-{uuid.uuid4()}"
    async with server.client() as http:
        assert (
            await http.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1})
        ).status_code == 201
        await fill_the_pool(http, cid)

        await restart_postgres(database_url)

        sequential = [(await http.get(f"/conversations/{cid}")).status_code for _ in range(16)]
        concurrent = await asyncio.gather(*(append(http, cid, f"after {n}") for n in range(32)))
        health = (await http.get("/health")).status_code
    statuses = [r.status_code for r in concurrent]
    print(
        f"\nidle restart: next 16 reads {sequential.count(200)}/16 ok, 32 concurrent appends "
        f"{statuses.count(201)}/32 ok, /health {health}"
    )
    assert sequential == [200] * 16, "".join(server.output)
    assert statuses == [201] * 32
    assert health == 200
    stored = await contents(database_url, cid)
    assert sorted(stored) == sorted(f"after {n}" for n in range(32))  # each once


async def test_a_restart_under_load_fails_no_request_after_recovery(
    server: ApiProcess, database_url: str
) -> None:
    cid = f"failover-load-{uuid.uuid4()}"
    results: list[tuple[float, float, int, str]] = []  # (started, ended, status, content)
    stop = asyncio.Event()

    async with server.client() as http:
        assert (
            await http.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1})
        ).status_code == 201
        await fill_the_pool(http, cid)

        async def load(worker: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                content = f"w{worker} m{n}"
                started = time.perf_counter()
                try:
                    status = (await append(http, cid, content)).status_code
                except httpx.HTTPError:
                    status = 599
                results.append((started, time.perf_counter(), status, content))
                await asyncio.sleep(0.005)  # a steady load rather than a flood: what the restart meets

        workers = [asyncio.create_task(load(w)) for w in range(16)]
        await until(lambda: sum(r[2] == 201 for r in results) >= 64)  # the load is flowing
        up = await restart_postgres(database_url)
        await asyncio.sleep(3.0)  # load on a recovered database: the window under test
        stop.set()
        await asyncio.gather(*workers)

    during = [r for r in results if r[0] < up]
    after = [r for r in results if r[0] >= up]
    failed_after = [r for r in after if r[2] >= 500]
    print(
        f"\nrestart under load (16 appenders): {len(during)} appends started before recovery "
        f"({sum(r[2] >= 500 for r in during)} failed, during the outage); {len(after)} after, "
        f"{len(failed_after)} failed"
    )
    assert after
    assert failed_after == []
    stored = await contents(database_url, cid)
    assert len(stored) == len(set(stored))  # no append stored twice
    assert {r[3] for r in results if r[2] == 201} <= set(stored)  # every acknowledged one stored
