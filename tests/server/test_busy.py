"""A locked conversation is busy, not an outage (issue 9, defect 4), on the real server.

While another transaction holds one conversation's row lock, appends to it answer 409
`conversation_busy` (with Retry-After) after the role's lock_timeout, instead of holding pooled
connections until the pool runs dry; requests for other conversations and /health go on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import psycopg
import pytest

from tests.harness.processes import api_process

pytestmark = pytest.mark.slow


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def test_a_locked_conversation_does_not_starve_the_api(admin: psycopg.AsyncConnection[Any]) -> None:
    locked, other = f"busy-{uuid.uuid4()}", f"busy-other-{uuid.uuid4()}"
    # The default pool (16 connections): before the fix, appends waiting on the lock held all of it.
    async with api_process() as server, server.client() as client:
        for cid in (locked, other):
            created = await client.post("/conversations", json={"conversation_id": cid, "ttl_hours": 1})
            assert created.status_code == 201, created.text
        await client.post(f"/conversations/{other}/messages", json={"role": "user", "content": "hi"})

        async def reads() -> list[tuple[httpx.Response, float]]:
            out = []
            for _ in range(20):
                out.append(await timed(client.get(f"/conversations/{other}")))
                await asyncio.sleep(0.1)  # spread over the lock's wait: what is under test
            return out

        async def healths() -> list[tuple[httpx.Response, float]]:
            out = []
            for _ in range(10):
                out.append(await timed(client.get("/health")))
                await asyncio.sleep(0.2)  # spread over the lock's wait: what is under test
            return out

        async with admin.transaction():
            await admin.execute(
                "select 1 from public.ai_conversations where conversation_id = %s for update", (locked,)
            )
            appends = [
                timed(
                    client.post(
                        f"/conversations/{locked}/messages", json={"role": "user", "content": f"m{n}"}
                    )
                )
                for n in range(64)
            ]
            appended, read, health = await asyncio.gather(asyncio.gather(*appends), reads(), healths())
        # The lock is released only now: every request above met it.

    statuses = [r.status_code for r, _ in appended]
    assert statuses == [409] * 64, statuses
    body = appended[0][0].json()
    assert body["error"] == "conversation_busy", body
    assert appended[0][0].headers["Retry-After"] == "1"
    assert [r.status_code for r, _ in read] == [200] * 20
    assert [r.status_code for r, _ in health] == [200] * 10
    slowest_append = max(t for _, t in appended)
    slowest_read = max(t for _, t in read)
    slowest_health = max(t for _, t in health)
    print(
        f"\nlocked conversation: 64 appends all 409 (slowest {slowest_append:.2f} s); 20 reads of another "
        f"all 200 (slowest {slowest_read:.2f} s); 10 /health all 200 (slowest {slowest_health:.2f} s)"
    )
    assert slowest_append < 6  # 64 waits of at most 1 s, 16 at a time
    assert slowest_health < 1
