"""The Supabase feed: a real realtime-py client on a private Broadcast channel against a local
Phoenix-protocol server, relaying the rows the real local database writes to realtime.messages
(as Realtime does from the WAL), with the hub reading catch-ups from that database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from app.realtime import Backoff, EndEvent, FeedConfigError, Hub, MessageEvent, StoreSource, SupabaseFeed
from app.realtime.supabase_feed import SERVICE_TOPIC, realtime_url
from app.store import ConversationManager
from tests.harness.waiting import until
from tests.realtime.fakes import seqs, take
from tests.realtime.phoenix import FakeRealtime

pytestmark = pytest.mark.filterwarnings("ignore:ConnectionClosed.*is deprecated:DeprecationWarning")

KEY = "service-role-key-for-tests"
JOIN_PAYLOAD = {
    "config": {
        "broadcast": {"ack": False, "self": False, "replication_ready": True},
        "presence": {"key": "", "enabled": False},
        "private": True,
        "postgres_changes": [],
    },
    "access_token": KEY,
}


@pytest.fixture
async def broadcast_settings(
    admin: psycopg.AsyncConnection[Any],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The service topic on (as the migrations set it), whatever a test changes restored after."""
    columns = "broadcast_conversations, broadcast_service, broadcast_max_bytes"
    row = await (await admin.execute(f"select {columns} from public.ai_conversation_settings")).fetchone()  # noqa: S608
    await admin.execute("update public.ai_conversation_settings set broadcast_service = true")
    try:
        yield admin
    finally:
        await admin.execute(
            f"update public.ai_conversation_settings set ({columns}) = (%s, %s, %s)",  # noqa: S608
            row,
        )


async def relay(realtime: FakeRealtime, admin: psycopg.AsyncConnection[Any], message_id: str) -> int:
    """Realtime's part: the service topic's row of realtime.messages for one message, broadcast."""
    row = await (
        await admin.execute(
            "select topic, event, payload, id::text from realtime.messages"
            " where topic = %s and payload ->> 'id' = %s",
            (SERVICE_TOPIC, message_id),
        )
    ).fetchone()
    assert row is not None, f"the database broadcast nothing for message {message_id}"
    topic, event, payload, row_id = row
    return await realtime.broadcast(topic, event, payload, row_id)


async def relay_event(
    realtime: FakeRealtime, admin: psycopg.AsyncConnection[Any], event: str, conversation_id: str
) -> dict[str, Any]:
    """The same for the last event of one kind about a conversation; returns its payload."""
    row = await (
        await admin.execute(
            "select payload, id::text from realtime.messages"
            " where topic = %s and event = %s and payload ->> 'conversation_id' = %s"
            " order by inserted_at desc limit 1",
            (SERVICE_TOPIC, event, conversation_id),
        )
    ).fetchone()
    assert row is not None, f"the database broadcast no {event} for {conversation_id}"
    payload, row_id = row
    assert await realtime.broadcast(SERVICE_TOPIC, event, payload, row_id) == 1
    return dict(payload)


@pytest.fixture
async def realtime() -> AsyncIterator[FakeRealtime]:
    server = FakeRealtime(KEY)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def hub(
    realtime: FakeRealtime, store: ConversationManager, broadcast_settings: object
) -> AsyncIterator[Hub]:
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


def _join_frames(realtime: FakeRealtime) -> list[dict[str, Any]]:
    return realtime.events("phx_join")


async def test_join_speaks_the_protocol(hub: Hub, realtime: FakeRealtime) -> None:
    url = urlparse(realtime.paths[0])
    assert url.path == "/realtime/v1/websocket"
    assert parse_qs(url.query) == {"apikey": [KEY], "vsn": ["1.0.0"]}
    (join,) = _join_frames(realtime)
    # A private Broadcast channel on the service topic, with the key as its access token.
    assert join == {
        "topic": f"realtime:{SERVICE_TOPIC}",
        "event": "phx_join",
        "payload": JOIN_PAYLOAD,
        "ref": join["ref"],
        "join_ref": join["ref"],
    }
    assert join["ref"] is not None
    # realtime-py heartbeats on the phoenix topic as soon as it connects; our replies must not
    # disturb anything.
    await until(lambda: realtime.events("heartbeat"), within=5)
    assert realtime.events("heartbeat")[0] == {
        "topic": "phoenix",
        "event": "heartbeat",
        "payload": {},
        "ref": None,
        "join_ref": None,
    }
    await asyncio.sleep(0.2)  # time for a disturbance that should not come: its absence is under test
    assert _feed(hub).connected
    assert _feed(hub).sessions == 1
    # Nothing else is ever sent: no broadcast, no presence, no postgres_changes binding.
    assert {m["event"] for m in realtime.received} == {"phx_join", "heartbeat"}


async def test_a_broadcast_from_the_database_reaches_the_subscriber_without_a_read(
    hub: Hub,
    realtime: FakeRealtime,
    store: ConversationManager,
    conversation_id: str,
    broadcast_settings: Any,
) -> None:
    sub = await hub.subscribe(conversation_id)
    appended = await store.add_message(conversation_id, "assistant", "from realtime", {"tokens": 3})
    reads = hub.catch_up_reads
    assert await relay(realtime, broadcast_settings, str(appended.message.id)) == 1
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert event.message == appended.message
    assert hub.catch_up_reads == reads
    # Realtime may deliver twice: still once.
    await relay(realtime, broadcast_settings, str(appended.message.id))
    assert await sub.get(timeout=0.2) is None


async def test_a_partial_message_is_read_from_the_database(
    hub: Hub,
    realtime: FakeRealtime,
    store: ConversationManager,
    conversation_id: str,
    broadcast_settings: Any,
) -> None:
    """Above broadcast_max_bytes the database broadcasts the message without its content."""
    await broadcast_settings.execute("update public.ai_conversation_settings set broadcast_max_bytes = 1000")
    sub = await hub.subscribe(conversation_id)
    appended = await store.add_message(conversation_id, "assistant", "long " * 400)
    await relay(realtime, broadcast_settings, str(appended.message.id))
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert event.message.content == "long " * 400


async def test_a_message_event_that_cannot_be_routed_means_a_catch_up(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    sub = await hub.subscribe(conversation_id)
    await store.add_message(conversation_id, "user", "only the database has it")
    await realtime.broadcast(SERVICE_TOPIC, "message", {"conversation_id": conversation_id}, "row-1")
    assert seqs(await take(sub, 1)) == [1]
    assert _feed(hub).unroutable == 1


async def test_a_deleted_conversation_ends_its_stream_without_a_read(
    hub: Hub,
    realtime: FakeRealtime,
    store: ConversationManager,
    conversation_id: str,
    broadcast_settings: Any,
) -> None:
    """conversation_deleted names the row: the hub ends the stream bound to it at once."""
    sub = await hub.subscribe(conversation_id)
    appended = await store.add_message(conversation_id, "user", "hello")
    await relay(realtime, broadcast_settings, str(appended.message.id))
    assert seqs(await take(sub, 1)) == [1]
    row = await (
        await broadcast_settings.execute(
            "select id::text from public.ai_conversations where conversation_id = %s", (conversation_id,)
        )
    ).fetchone()
    assert row is not None
    await store.delete_conversation(conversation_id)
    reads = hub.catch_up_reads
    payload = await relay_event(realtime, broadcast_settings, "conversation_deleted", conversation_id)
    assert payload == {"row_id": row[0], "conversation_id": conversation_id, "reason": "deleted"}
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert (end.reason, end.last_seq) == ("gone", 1)
    assert hub.catch_up_reads == reads
    assert _feed(hub).unroutable == 0


async def test_an_expired_conversation_the_cleanup_removes_ends_its_stream(
    hub: Hub,
    realtime: FakeRealtime,
    store: ConversationManager,
    conversation_id: str,
    broadcast_settings: Any,
) -> None:
    sub = await hub.subscribe(conversation_id)
    await broadcast_settings.execute(
        "update public.ai_conversations set expires_at = now() - interval '1 second'"
        " where conversation_id = %s",
        (conversation_id,),
    )
    await broadcast_settings.execute("select public.cleanup_expired_conversations()")
    reads = hub.catch_up_reads
    payload = await relay_event(realtime, broadcast_settings, "conversation_deleted", conversation_id)
    assert payload["reason"] == "expired"
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"
    assert hub.catch_up_reads == reads


async def test_a_deletion_event_without_its_row_means_a_catch_up(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    """Without row_id the hub cannot tell which stream it ends: every topic reads again, and
    the one whose conversation is gone ends."""
    sub = await hub.subscribe(conversation_id)
    await store.delete_conversation(conversation_id)
    no_row = {"conversation_id": conversation_id}
    await realtime.broadcast(SERVICE_TOPIC, "conversation_deleted", no_row, "row-1")
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"
    assert _feed(hub).unroutable == 1


async def test_a_clear_makes_the_topic_read_again_and_the_stream_goes_on(
    hub: Hub,
    realtime: FakeRealtime,
    store: ConversationManager,
    conversation_id: str,
    broadcast_settings: Any,
) -> None:
    """A clear's event carries conversation_id and a seq-like last_seq: it is no message, but
    the topic reads the conversation again (and finds the row it is bound to)."""
    sub = await hub.subscribe(conversation_id)
    appended = await store.add_message(conversation_id, "user", "hello")
    await relay(realtime, broadcast_settings, str(appended.message.id))
    assert seqs(await take(sub, 1)) == [1]
    await store.clear_conversation(conversation_id)
    reads = hub.catch_up_reads
    payload = await relay_event(realtime, broadcast_settings, "cleared", conversation_id)
    assert (payload["deleted"], payload["last_seq"], payload["remaining"]) == (1, 1, 0)
    await until(lambda: hub.catch_up_reads > reads)
    assert await sub.get(timeout=0.2) is None
    after = await store.add_message(conversation_id, "user", "after the clear")
    await relay(realtime, broadcast_settings, str(after.message.id))
    assert seqs(await take(sub, 1)) == [2]
    assert _feed(hub).unroutable == 0


async def test_a_dropped_connection_rejoins_and_the_hub_catches_up(
    hub: Hub,
    realtime: FakeRealtime,
    store: ConversationManager,
    conversation_id: str,
    broadcast_settings: Any,
) -> None:
    feed = _feed(hub)
    sub = await hub.subscribe(conversation_id)
    first = await store.add_message(conversation_id, "user", "before the drop")
    await relay(realtime, broadcast_settings, str(first.message.id))
    assert seqs(await take(sub, 1)) == [1]

    realtime.drop()
    # Committed while the socket is down: Realtime never sends these to this client.
    for i in range(3):
        await store.add_message(conversation_id, "user", f"missed {i}")
    await realtime.wait_joined()
    await until(lambda: feed.sessions >= 2, within=10)
    assert seqs(await take(sub, 3)) == [2, 3, 4]
    # The rejoin is the same private join, with the key again.
    rejoin = _join_frames(realtime)[-1]
    assert rejoin["payload"] == JOIN_PAYLOAD
    assert rejoin["topic"] == f"realtime:{SERVICE_TOPIC}"

    after = await store.add_message(conversation_id, "user", "after the reconnect")
    await relay(realtime, broadcast_settings, str(after.message.id))
    assert seqs(await take(sub, 1)) == [5]
    assert await sub.get(timeout=0.2) is None


async def test_an_expired_token_ends_the_channel_and_the_feed_rejoins(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    """Realtime checks the join's token every few minutes and ends the channel once it has
    expired (a system error, then phx_close): the feed joins again with a fresh connection."""
    feed = _feed(hub)
    sub = await hub.subscribe(conversation_id)
    joins = len(_join_frames(realtime))
    await realtime.expire_token()
    await store.add_message(conversation_id, "user", "while the channel was closed")
    await until(lambda: feed.sessions >= 2, within=10)
    assert len(_join_frames(realtime)) == joins + 1
    assert _join_frames(realtime)[-1]["payload"]["access_token"] == KEY
    assert len(realtime.paths) == 2, "a fresh websocket, not a rejoin on the old one"
    assert seqs(await take(sub, 1)) == [1]


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
    hub: Hub,
    realtime: FakeRealtime,
    store: ConversationManager,
    conversation_id: str,
    broadcast_settings: Any,
) -> None:
    feed = _feed(hub)
    sub = await hub.subscribe(conversation_id)
    realtime.reject_joins = 2
    await realtime.channel_error()  # the channel fails; the next two joins are refused
    await until(lambda: feed.sessions >= 2, within=10)
    assert len(_join_frames(realtime)) >= 4
    appended = await store.add_message(conversation_id, "user", "after the errors")
    await relay(realtime, broadcast_settings, str(appended.message.id))
    assert seqs(await take(sub, 1)) == [1]


async def test_the_feed_catches_up_when_replication_is_ready(
    hub: Hub, realtime: FakeRealtime, store: ConversationManager, conversation_id: str
) -> None:
    """Broadcasts committed between the join reply and "Replication connection established"
    are not delivered by Realtime: the system message triggers a catch-up."""
    sub = await hub.subscribe(conversation_id)
    realtime.send_replication_ready = False
    realtime.drop()
    await realtime.wait_joined()
    await until(lambda: _feed(hub).sessions >= 2, within=10)
    await store.add_message(conversation_id, "user", "between join and ready")
    assert await sub.get(timeout=0.3) is None
    await realtime.system("ok", "Replication connection established")
    assert seqs(await take(sub, 1)) == [1]


async def test_a_join_with_the_wrong_key_is_refused_and_retried(
    store: ConversationManager, broadcast_settings: object
) -> None:
    server = FakeRealtime("the-real-key")
    await server.start()
    feed = SupabaseFeed(server.url, KEY, backoff=Backoff(0.05, 0.1), watchdog_interval=0.1)
    hub = Hub(StoreSource(store), feed, check_interval=60, degraded_check_interval=60)
    await hub.start()
    try:
        await until(lambda: len(server.events("phx_join")) >= 2, within=10)
        assert not feed.connected
        assert feed.sessions == 0
        assert all(j["payload"]["access_token"] == KEY for j in server.events("phx_join"))
    finally:
        await hub.stop()
        await server.stop()


def test_realtime_url_and_config_errors() -> None:
    assert realtime_url("https://abc.supabase.co") == "https://abc.supabase.co/realtime/v1"
    assert realtime_url("https://abc.supabase.co/") == "https://abc.supabase.co/realtime/v1"
    assert realtime_url("http://127.0.0.1:54321/realtime/v1") == "http://127.0.0.1:54321/realtime/v1"
    with pytest.raises(FeedConfigError):
        realtime_url("abc.supabase.co")
    with pytest.raises(FeedConfigError):
        SupabaseFeed("https://abc.supabase.co", "")
