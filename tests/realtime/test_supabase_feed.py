"""The Supabase feed: a real realtime-py client against a local Phoenix-protocol server, with
the hub reading catch-ups from the real local database (where the messages really are)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlparse

import pytest

from app.realtime import Backoff, FeedConfigError, Hub, MessageEvent, StoreSource, SupabaseFeed
from app.realtime.supabase_feed import realtime_url
from app.store import ConversationManager
from tests.harness.waiting import until
from tests.realtime.fakes import seqs, take
from tests.realtime.phoenix import FakeRealtime

pytestmark = pytest.mark.filterwarnings("ignore:ConnectionClosed.*is deprecated:DeprecationWarning")

KEY = "service-role-key-for-tests"


@pytest.fixture
async def realtime() -> AsyncIterator[FakeRealtime]:
    server = FakeRealtime()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def hub(realtime: FakeRealtime, store: ConversationManager) -> AsyncIterator[Hub]:
    feed = SupabaseFeed(realtime.url, KEY, backoff=Backoff(0.05, 0.3), watchdog_interval=0.1)
    # Checks far apart: whatever the subscriber gets after a drop came from the reconnect.
    hub = Hub(StoreSource(store), feed, check_interval=60, degraded_check_interval=60)
    await hub.start()
    assert await feed.wait_connected(10), "the realtime feed did not connect"
    try:
        yield hub
    finally:
        await hub.stop()


def _feed(hub: Hub) -> SupabaseFeed:
    assert isinstance(hub.feed, SupabaseFeed)
    return hub.feed


async def test_join_speaks_the_protocol(hub: Hub, realtime: FakeRealtime) -> None:
    url = urlparse(realtime.paths[0])
    assert url.path == "/realtime/v1/websocket"
    assert parse_qs(url.query) == {"apikey": [KEY], "vsn": ["1.0.0"]}
    (join,) = realtime.events("phx_join")
    assert join["topic"] == "realtime:ai-conversation-messages"
    assert join["payload"]["access_token"] == KEY
    assert join["payload"]["config"]["postgres_changes"] == [
        {"event": "INSERT", "schema": "public", "table": "ai_conversation_messages"}
    ]
    # realtime-py heartbeats as soon as it connects; our replies must not disturb anything.
    await until(lambda: realtime.events("heartbeat"), within=5)
    await asyncio.sleep(0.2)  # time for a disturbance that should not come: its absence is under test
    assert _feed(hub).connected
    assert _feed(hub).sessions == 1


async def test_a_change_reaches_the_subscriber_without_a_database_read(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    appended = await store.add_message(conversation_id, "assistant", "from realtime", {"tokens": 3})
    reads = hub.catch_up_reads
    assert await realtime.push_insert(appended.message) == 1
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert event.message == appended.message
    assert hub.catch_up_reads == reads
    await realtime.push_insert(appended.message)  # Realtime may deliver twice: still once
    assert await sub.get(timeout=0.2) is None


async def test_a_change_without_a_usable_record_is_read_from_the_database(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    first = await store.add_message(conversation_id, "user", "too large for realtime")
    # Realtime strips oversized values and reports an error: the record cannot be trusted.
    await realtime.push_insert(
        {"conversation_id": conversation_id, "seq": first.message.seq, "content": None},
        errors=["Error 413: Payload Too Large"],
    )
    second = await store.add_message(conversation_id, "user", "cannot be routed")
    await realtime.push_insert({"id": str(second.message.id)}, errors=["Error 413: Payload Too Large"])
    events = await take(sub, 2)
    assert seqs(events) == [1, 2]
    assert isinstance(events[0], MessageEvent)
    assert events[0].message.content == "too large for realtime"
    assert _feed(hub).unroutable == 1


async def test_a_dropped_connection_reconnects_and_the_hub_catches_up(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    feed = _feed(hub)
    sub = await hub.subscribe(conversation_id)
    first = await store.add_message(conversation_id, "user", "before the drop")
    await realtime.push_insert(first.message)
    assert seqs(await take(sub, 1)) == [1]

    realtime.drop()
    # Committed while the socket is down: Realtime never sends these to this client.
    for i in range(3):
        await store.add_message(conversation_id, "user", f"missed {i}")
    await realtime.wait_joined()
    await until(lambda: feed.sessions >= 2, within=10)
    assert seqs(await take(sub, 3)) == [2, 3, 4]

    after = await store.add_message(conversation_id, "user", "after the reconnect")
    await realtime.push_insert(after.message)
    assert seqs(await take(sub, 1)) == [5]
    assert await sub.get(timeout=0.2) is None


async def test_a_realtime_restart_is_survived(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    feed = _feed(hub)
    sub = await hub.subscribe(conversation_id)
    await realtime.stop()  # closes the sockets; reconnects are refused until it is back
    await until(lambda: not feed.connected, within=5)
    await store.add_message(conversation_id, "user", "while realtime was down")
    await asyncio.sleep(0.5)  # an outage long enough for a few refused reconnects: under test
    await realtime.start()
    await realtime.wait_joined()
    assert seqs(await take(sub, 1, within=10)) == [1]
    assert feed.sessions >= 2


async def test_rejected_joins_and_channel_errors_are_retried(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    feed = _feed(hub)
    sub = await hub.subscribe(conversation_id)
    realtime.reject_joins = 2
    await realtime.channel_error()  # the channel fails; the next two joins are refused
    await until(lambda: feed.sessions >= 2, within=10)
    assert len(realtime.events("phx_join")) >= 4
    appended = await store.add_message(conversation_id, "user", "after the errors")
    await realtime.push_insert(appended.message)
    assert seqs(await take(sub, 1)) == [1]


async def test_the_feed_is_resynced_when_postgres_changes_is_ready(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    """Changes between the join reply and "Subscribed to PostgreSQL" are not delivered by
    Realtime: the system message triggers a catch-up."""
    sub = await hub.subscribe(conversation_id)
    realtime.send_system_ok = False
    realtime.drop()
    await realtime.wait_joined()
    await until(lambda: _feed(hub).sessions >= 2, within=10)
    await store.add_message(conversation_id, "user", "between join and ready")
    assert await sub.get(timeout=0.3) is None
    ((ws, (topic, _)),) = realtime.joined.items()
    ready = {
        "topic": topic,
        "event": "system",
        "ref": None,
        "payload": {
            "channel": "ai-conversation-messages",
            "extension": "postgres_changes",
            "message": "Subscribed to PostgreSQL",
            "status": "ok",
        },
    }
    await ws.send(json.dumps(ready))
    assert seqs(await take(sub, 1)) == [1]


def test_realtime_url_and_config_errors() -> None:
    assert realtime_url("https://abc.supabase.co") == "https://abc.supabase.co/realtime/v1"
    assert realtime_url("https://abc.supabase.co/") == "https://abc.supabase.co/realtime/v1"
    assert realtime_url("http://127.0.0.1:54321/realtime/v1") == "http://127.0.0.1:54321/realtime/v1"
    with pytest.raises(FeedConfigError):
        realtime_url("abc.supabase.co")
    with pytest.raises(FeedConfigError):
        SupabaseFeed("https://abc.supabase.co", "")
