"""The local feed across a real Postgres restart (`scripts/stack.sh down` / `up`).

Marked `disruptive`, so tests/conftest.py runs it after every other test: it takes the shared
local database away for a few seconds, and nothing else may be in the middle of something. Messages are
appended without pause across the outage (retried with an idempotency key, so each lands
exactly once); a subscriber that stays connected and one that resumes afterwards must both
end up with every one of them, in order, once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from app.realtime import Hub, PostgresFeed
from app.store import ConversationManager, StoreError
from tests.conftest import check_local_stack, stack
from tests.harness.waiting import until
from tests.realtime.conftest import make_hub
from tests.realtime.fakes import seqs, take

pytestmark = [pytest.mark.slow, pytest.mark.disruptive]


@pytest.fixture
async def restart_hub(database_url: str, store: ConversationManager) -> AsyncIterator[Hub]:
    check_local_stack(database_url)
    hub = make_hub(database_url, store, check_interval=1.0)
    await hub.start()
    assert hub.feed is not None
    assert await hub.feed.wait_connected(10)
    try:
        yield hub
    finally:
        await hub.stop()


async def test_no_message_is_lost_across_a_postgres_restart(
    restart_hub: Hub, store: ConversationManager
) -> None:
    hub = restart_hub
    feed = hub.feed
    assert isinstance(feed, PostgresFeed)
    cid = f"rt-restart-{uuid.uuid4()}"
    await store.create_conversation(conversation_id=cid)
    connected = await hub.subscribe(cid, after_seq=0, queue_size=10_000)
    resuming = await hub.subscribe(cid, after_seq=0)

    stop = asyncio.Event()
    appended: list[int] = []

    async def appender() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            while True:  # retried until it lands; the key makes a retry of a commit a no-op
                try:
                    result = await store.add_message(cid, "user", f"m{n}", idempotency_key=f"m{n}")
                    appended.append(result.message.seq)
                    break
                except StoreError:
                    await asyncio.sleep(0.05)  # a client retrying through the outage: under test
            await asyncio.sleep(0.03)  # a steady load rather than a flood

    task = asyncio.create_task(appender())
    try:
        await until(lambda: len(appended) >= 5, within=10)
        before = seqs(await take(resuming, 3))
        resuming.close()  # this client drops before the outage and comes back after it
        sessions = feed.sessions

        await stack("down")
        await asyncio.sleep(0.3)  # down for a moment: the outage is what is under test
        await stack("up")

        await until(lambda: feed.sessions > sessions, within=30)  # listening again
        count = len(appended)
        await until(lambda: len(appended) >= count + 5, within=10)  # appends flow on
    finally:
        stop.set()
        await task

    total = len(appended)
    assert appended == list(range(1, total + 1))  # each logical message landed once
    assert seqs(await take(connected, total, within=30)) == list(range(1, total + 1))
    assert await connected.get(timeout=0.3) is None

    assert before == [1, 2, 3]
    back = await hub.subscribe(cid, after_seq=resuming.last_seq)
    assert seqs(await take(back, total - 3, within=30)) == list(range(4, total + 1))
    assert await back.get(timeout=0.3) is None
