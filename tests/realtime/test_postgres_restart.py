"""The local feed across a real Postgres restart (`scripts/stack.sh down` / `up`).

Marked `disruptive`, so tests/conftest.py runs it after every other test: it takes the shared
local database away for a few seconds, and nothing else may be in the middle of something. Messages are
appended without pause across the outage (retried with an idempotency key, so each lands
exactly once); a subscriber that stays connected and one that resumes afterwards must both
end up with every one of them, in order, once.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.realtime import Hub, PostgresFeed
from app.store import ConversationManager, StoreError
from tests.realtime.conftest import make_hub
from tests.realtime.fakes import seqs, take, until

pytestmark = [pytest.mark.slow, pytest.mark.disruptive]

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack.sh"


async def _stack(command: str) -> None:
    env = dict(os.environ)
    process = await asyncio.create_subprocess_exec(
        str(STACK), command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, f"scripts/stack.sh {command} failed:\n{out.decode()}\n{err.decode()}"


@pytest.fixture
async def restart_hub(database_url: str, store: ConversationManager) -> AsyncIterator[Hub]:
    # This test stops and starts a cluster: only ever the local stack's own (make test's), on
    # the port scripts/stack.sh serves it (STACK_PORT, 54322 by default).
    port = os.environ.get("STACK_PORT") or "54322"
    assert f"127.0.0.1:{port}/" in database_url or f"localhost:{port}/" in database_url, (
        f"this test restarts the local stack's cluster (port {port}); run it against the local "
        f"stack (make test), not {database_url!r}"
    )
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
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.03)

    task = asyncio.create_task(appender())
    try:
        await until(lambda: len(appended) >= 5, within=10)
        before = seqs(await take(resuming, 3))
        resuming.close()  # this client drops before the outage and comes back after it
        sessions = feed.sessions

        await _stack("down")
        await asyncio.sleep(0.3)
        await _stack("up")

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
