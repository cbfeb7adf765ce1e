"""Naming another user's conversation costs its owner nothing (issue 22, item 10).

Bob appending to Alice's conversation id gets 404, as before; what changes is what his attempt
did on the way. Before: the insert trigger locked and updated Alice's row before it checked the
owner (a new row version each time, rolled back: dead tuples, and a wait on her row lock), and
the API's per-conversation lane was keyed by the id alone, so Bob's calls queued in Alice's lane
and took its slots. Now the owner is part of the update's condition (no lock, no row version),
and a lane belongs to a caller and a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from app.config import DatabaseSettings
from app.db import create_pool
from app.store import ConversationManager, NotFoundError, Principal
from app.store.postgres import PostgresTransport
from tests.api.helpers import Client, as_user

Create = Callable[..., Awaitable[dict[str, Any]]]
Admin = psycopg.AsyncConnection[Any]


async def row_version(admin: Admin, cid: str) -> tuple[Any, ...]:
    """What any lock or update of the row changes: its xmax (the locker's or updater's xid,
    even when that transaction rolled back), its xmin and place."""
    cur = await admin.execute(
        "select xmin::text, xmax::text, ctid::text, updated_at, expires_at, last_seq"
        " from public.ai_conversations where conversation_id = %s",
        (cid,),
    )
    row = await cur.fetchone()
    assert row is not None
    return tuple(row)


async def test_bobs_failed_appends_leave_alices_row_untouched(
    client: Client, create: Create, admin: Admin
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    cid = (await create(alice, messages=1))["conversation_id"]
    before = await row_version(admin, cid)
    statuses = set()
    for n in range(20):
        response = await client.post(
            f"/conversations/{cid}/messages",
            json={"role": "user", "content": f"probe {n}"},
            headers=as_user(bob),
        )
        statuses.add(response.status_code)
    assert statuses == {404}
    assert await row_version(admin, cid) == before  # no lock, no new row version
    # Alice's own append still works and is what moves her row.
    mine = await client.post(
        f"/conversations/{cid}/messages", json={"role": "user", "content": "mine"}, headers=as_user(alice)
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["seq"] == 2


@pytest.fixture
async def transport(database_url: str) -> AsyncIterator[PostgresTransport]:
    async with create_pool(DatabaseSettings.model_validate({"DATABASE_URL": database_url})) as pool:
        yield PostgresTransport(pool)


async def test_a_full_lane_of_alices_holds_no_call_of_bobs(
    create: Create, transport: PostgresTransport
) -> None:
    alice, bob = Principal.user(uuid.uuid4()), Principal.user(uuid.uuid4())
    cid = (await create(alice.user_id, messages=1))["conversation_id"]
    alices, bobs = ConversationManager(transport, alice), ConversationManager(transport, bob)
    async with contextlib.AsyncExitStack() as held:
        # Alice's lane full: as many of her calls in flight as DB_CONVERSATION_CONCURRENCY allows.
        for _ in range(transport.lanes.width):
            await held.enter_async_context(transport.lanes.lane(transport.lane_key(alice, cid)))
        hers = asyncio.create_task(alices.add_message(cid, "user", "mine"))
        # Bob's call naming her conversation neither queues behind hers nor waits (10 s: only a
        # guard against a hang, it answers in milliseconds).
        with pytest.raises(NotFoundError):
            await asyncio.wait_for(bobs.add_message(cid, "user", "probe"), timeout=10)
        assert not hers.done()  # hers waits for her lane, as the lanes intend
    assert (await hers).message.seq == 2
