"""Ordering and idempotency under real concurrency: many connections, one conversation.

The database serialises appenders on the conversation row; these tests check the outcome
from the outside: gapless sequence numbers and one message per idempotency key.
"""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

APPEND = """
select set_config('role', 'service_role', true),
       set_config('request.jwt.claims', '{"role":"service_role"}', true);
"""
CALL = "select (public.append_message(%s, 'user', %s, '{}'::jsonb, %s) ->> 'replayed')::boolean"


async def _append(url: str, cid: str, content: str, key: str | None, start: asyncio.Barrier) -> bool:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await start.wait()  # every connection open: they all go at once
        async with conn.transaction():
            await conn.execute(APPEND)
            cur = await conn.execute(CALL, (cid, content, key))
            row = await cur.fetchone()
            assert row is not None
            return bool(row[0])


async def _run(url: str, cid: str, n: int, key: str | None) -> list[bool]:
    start = asyncio.Barrier(n + 1)  # the appenders, once connected, and this task
    # Retries under one key carry one message (another content under a used key is a 409).
    contents = ["retried message"] * n if key else [f"message {i}" for i in range(n)]
    tasks = [asyncio.create_task(_append(url, cid, contents[i], key, start)) for i in range(n)]
    async with asyncio.timeout(30):
        await start.wait()
    return await asyncio.gather(*tasks)


async def _seqs(admin: psycopg.AsyncConnection, cid: str) -> list[int]:
    cur = await admin.execute(
        "select seq from public.ai_conversation_messages where conversation_id = %s order by seq", (cid,)
    )
    return [r[0] for r in await cur.fetchall()]


async def test_fifty_concurrent_appenders_get_gapless_sequence(
    database_url: str, admin: psycopg.AsyncConnection, conversation_id: str
) -> None:
    replayed = await _run(database_url, conversation_id, 50, None)

    assert replayed == [False] * 50
    assert await _seqs(admin, conversation_id) == list(range(1, 51))
    cur = await admin.execute(
        "select message_count, last_seq from public.ai_conversations where conversation_id = %s",
        (conversation_id,),
    )
    assert await cur.fetchone() == (50, 50)


async def test_twenty_concurrent_retries_store_one_message(
    database_url: str, admin: psycopg.AsyncConnection, conversation_id: str
) -> None:
    replayed = await _run(database_url, conversation_id, 20, "retry-key-1")

    assert sorted(replayed) == [False] + [True] * 19
    assert await _seqs(admin, conversation_id) == [1]
    cur = await admin.execute(
        "select count(distinct id) from public.ai_conversation_messages where conversation_id = %s",
        (conversation_id,),
    )
    assert await cur.fetchone() == (1,)


@pytest.mark.parametrize("writers", [2, 8])
async def test_appends_to_different_conversations_do_not_interfere(
    database_url: str, admin: psycopg.AsyncConnection, writers: int
) -> None:
    ids = []
    for _ in range(writers):
        cid = f"it-multi-{uuid.uuid4()}"
        await admin.execute("select public.create_conversation(p_conversation_id => %s)", (cid,))
        ids.append(cid)
    await asyncio.gather(*(_run(database_url, cid, 10, None) for cid in ids))
    for cid in ids:
        assert await _seqs(admin, cid) == list(range(1, 11))
