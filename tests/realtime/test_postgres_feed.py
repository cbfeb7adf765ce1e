"""The local feed end to end: logical decoding (wal2json) over one replication connection, the
hub, on the real database, with messages written through the store and by plain SQL."""

from __future__ import annotations

import asyncio
import json
import uuid

import psycopg
import pytest

from app.realtime import EndEvent, FeedEvent, Hub, MessageEvent, PostgresFeed
from app.store import ConversationManager, NotFoundError
from tests.harness.waiting import eventually, until
from tests.realtime.conftest import make_hub
from tests.realtime.fakes import seqs, take


async def _slot_gone(admin: psycopg.AsyncConnection, slot: str | None) -> bool:
    cur = await admin.execute("select count(*) from pg_replication_slots where slot_name = %s", (slot,))
    return await cur.fetchone() == (0,)


INSERT = "insert into public.ai_conversation_messages (conversation_id, role, content) values (%s, %s, %s)"


async def test_a_message_appended_through_the_store_reaches_a_subscriber(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    appended = await store.add_message(conversation_id, "user", "hello", {"model": "m"})
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert event.message == appended.message  # the same JSON shape the store returns
    assert json.loads(event.data)["content"] == "hello"


async def test_a_message_inserted_by_sql_reaches_a_subscriber(
    hub: Hub, admin: psycopg.AsyncConnection, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    await admin.execute(INSERT, (conversation_id, "assistant", "written by SQL"))
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert (event.seq, event.message.role, event.message.content) == (1, "assistant", "written by SQL")


async def test_a_large_message_arrives_whole_without_a_database_read(
    database_url: str, store: ConversationManager, conversation_id: str
) -> None:
    hub = make_hub(database_url, store, check_interval=60)  # no periodic re-reads
    await hub.start()
    try:
        assert hub.feed is not None
        assert await hub.feed.wait_connected(10)
        sub = await hub.subscribe(conversation_id)
        reads = hub.catch_up_reads
        await store.add_message(conversation_id, "user", "é" * 50_000, {"tool_calls": [{"name": "x"}]})
        await store.add_message(conversation_id, "user", "small again")
        events = await take(sub, 2, within=5)
        assert seqs(events) == [1, 2]
        first = events[0]
        assert isinstance(first, MessageEvent)
        assert first.message.content == "é" * 50_000
        assert first.message.metadata == {"tool_calls": [{"name": "x"}]}
        assert hub.catch_up_reads == reads
    finally:
        await hub.stop()


async def test_a_rolled_back_append_is_never_delivered(
    hub: Hub, database_url: str, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(INSERT, (conversation_id, "user", "never committed"))
        await conn.rollback()
    await store.add_message(conversation_id, "user", "committed")
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert (event.seq, event.message.content) == (1, "committed")


async def test_resume_replays_exactly_the_missed_messages(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id, after_seq=0)
    for i in range(3):
        await store.add_message(conversation_id, "user", f"m{i + 1}")
    assert seqs(await take(sub, 3)) == [1, 2, 3]
    sub.close()  # the client disconnects
    for i in range(3, 8):
        await store.add_message(conversation_id, "user", f"m{i + 1}")
    resumed = await hub.subscribe(conversation_id, after_seq=sub.last_seq)
    assert seqs(await take(resumed, 5)) == [4, 5, 6, 7, 8]
    await store.add_message(conversation_id, "user", "m9")
    assert seqs(await take(resumed, 1)) == [9]
    assert await resumed.get(timeout=0.2) is None  # nothing twice


async def test_subscribers_joining_during_concurrent_appends_see_every_message_once(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    total = 60

    async def appender(worker: int) -> None:
        for i in range(total // 3):
            await store.add_message(conversation_id, "user", f"w{worker} #{i}")

    writers = [asyncio.create_task(appender(w)) for w in range(3)]
    subs = []
    for _ in range(6):  # join at different moments of the burst, all from the start
        subs.append(await hub.subscribe(conversation_id, after_seq=0))
        await asyncio.sleep(0.01)  # spread over the burst: the interleaving under test
    await asyncio.gather(*writers)
    for sub in subs:
        assert seqs(await take(sub, total, within=10)) == list(range(1, total + 1))
        assert await sub.get(timeout=0.1) is None


async def test_replay_across_a_clear_skips_the_removed_messages(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    for i in range(4):
        await store.add_message(conversation_id, "user", f"old {i}")
    await store.clear_conversation(conversation_id)
    await store.add_message(conversation_id, "user", "new")
    sub = await hub.subscribe(conversation_id, after_seq=2)
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert (event.seq, event.message.content) == (5, "new")


async def test_a_replayed_idempotency_key_is_not_a_second_event(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    first = await store.add_message(conversation_id, "user", "once", idempotency_key="k1")
    again = await store.add_message(conversation_id, "user", "once", idempotency_key="k1")
    assert again.replayed
    assert again.message.seq == first.message.seq
    await store.add_message(conversation_id, "user", "next")
    assert seqs(await take(sub, 2)) == [1, 2]
    assert await sub.get(timeout=0.2) is None


async def test_slow_consumer_gets_overflow_and_resumes(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id, queue_size=3)
    await store.add_message(conversation_id, "user", "first")
    assert seqs(await take(sub, 1)) == [1]
    overflows = hub.overflows
    for i in range(6):  # the consumer does not read meanwhile
        await store.add_message(conversation_id, "user", f"burst {i}")
    await until(lambda: hub.overflows > overflows)  # the feed delivered past the queue's 3
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert (end.reason, end.last_seq) == ("overflow", 1)
    resumed = await hub.subscribe(conversation_id, after_seq=end.last_seq)
    assert seqs(await take(resumed, 6)) == [2, 3, 4, 5, 6, 7]


async def test_deleting_the_conversation_ends_the_stream(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    await store.add_message(conversation_id, "user", "before")
    await store.delete_conversation(conversation_id)
    events = await take(sub, 2, within=5)  # the hub's check runs every 0.5 s here
    assert seqs(events) == [1]
    end = events[-1]
    assert isinstance(end, EndEvent)
    assert (end.reason, end.last_seq) == ("gone", 1)
    with pytest.raises(NotFoundError):
        await hub.subscribe(conversation_id)


async def test_expiry_ends_the_stream(hub: Hub, admin: psycopg.AsyncConnection, conversation_id: str) -> None:
    sub = await hub.subscribe(conversation_id)
    await admin.execute(
        "update public.ai_conversations set expires_at = now() - interval '1 second'"
        " where conversation_id = %s",
        (conversation_id,),
    )
    (end,) = await take(sub, 1, within=5)
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"


async def test_unknown_conversation_is_not_found(hub: Hub) -> None:
    with pytest.raises(NotFoundError):
        await hub.subscribe(f"rt-missing-{uuid.uuid4()}")
    assert hub.stats().topics == 0


async def test_feed_off_still_delivers_by_polling(
    database_url: str, store: ConversationManager, conversation_id: str
) -> None:
    hub = make_hub(database_url, store, degraded_check_interval=0.1)
    hub.feed = None
    await hub.start()
    try:
        sub = await hub.subscribe(conversation_id)
        await store.add_message(conversation_id, "user", "polled")
        assert seqs(await take(sub, 1)) == [1]
    finally:
        await hub.stop()


async def test_the_slot_is_temporary_and_goes_with_the_feed(
    database_url: str, admin: psycopg.AsyncConnection
) -> None:
    class Sink:
        def feed_event(self, event: FeedEvent) -> None:
            pass

        def feed_resumed(self) -> None:
            pass

        def watching(self, conversation_id: str) -> bool:
            return True

    feed = PostgresFeed(database_url, status_interval=1.0)
    await feed.start(Sink())
    try:
        assert await feed.wait_connected(10)
        slot = feed.slot
        cur = await admin.execute(
            "select temporary, plugin, active_pid from pg_replication_slots where slot_name = %s", (slot,)
        )
        assert await cur.fetchone() == (True, "wal2json", feed.backend_pid)
    finally:
        await feed.stop()
    assert not feed.connected
    await eventually(lambda: _slot_gone(admin, slot), within=5)


async def test_the_feed_reconnects_when_its_session_is_killed(
    hub: Hub, admin: psycopg.AsyncConnection, store: ConversationManager, conversation_id: str
) -> None:
    """pg_terminate_backend on the walsender: what a failover or an idle-killer does."""
    feed = hub.feed
    assert isinstance(feed, PostgresFeed)
    assert feed.backend_pid is not None
    sub = await hub.subscribe(conversation_id)
    sessions, slot = feed.sessions, feed.slot
    await admin.execute("select pg_terminate_backend(%s)", (feed.backend_pid,))
    await store.add_message(conversation_id, "user", "while the feed was away")
    await until(lambda: feed.sessions > sessions, within=10)
    await store.add_message(conversation_id, "user", "after the reconnect")
    assert seqs(await take(sub, 2, within=5)) == [1, 2]
    assert hub.stats().feed_sessions == feed.sessions > sessions  # /metrics: realtime_feed_sessions
    await eventually(lambda: _slot_gone(admin, slot), within=5)  # the old session's slot went with it


async def test_the_hub_reports_the_feeds_lag(
    hub: Hub, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    assert hub.stats().feed_lag_seconds is None  # nothing carried yet
    await store.add_message(conversation_id, "user", "carried by the feed")
    assert seqs(await take(sub, 1, within=5)) == [1]
    lag = hub.stats().feed_lag_seconds
    assert lag is not None
    assert 0 <= lag < 5


async def test_deletions_reach_the_hub_in_commit_order_without_a_read(
    database_url: str, store: ConversationManager, admin: psycopg.AsyncConnection
) -> None:
    """One statement deletes two watched conversations (as the hourly cleanup does): the feed
    carries the database's one deletion message, and both streams end `gone` with no read;
    then the first id is created again and its messages reach nobody of the old stream."""
    hub = make_hub(database_url, store, check_interval=3600)  # no periodic re-reads
    await hub.start()
    try:
        assert hub.feed is not None
        assert await hub.feed.wait_connected(10)
        ids = [f"rt-del-{uuid.uuid4()}" for _ in range(2)]
        subs = []
        for cid in ids:
            await store.create_conversation(conversation_id=cid)
            row = (await store.get_stream_window(cid)).row_id
            subs.append(await hub.subscribe(cid, row=row))
        reads = hub.catch_up_reads
        await admin.execute("delete from public.ai_conversations where conversation_id = any(%s)", (ids,))
        await store.create_conversation(conversation_id=ids[0])
        await store.add_message(ids[0], "user", "of the next conversation")
        for sub in subs:
            (end,) = await take(sub, 1, within=5)
            assert isinstance(end, EndEvent)
            assert end.reason == "gone"
        assert hub.catch_up_reads == reads
    finally:
        await hub.stop()
