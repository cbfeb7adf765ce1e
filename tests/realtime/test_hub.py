"""The hub's ordering, resume and back-pressure rules, against an in-memory source.

The in-memory source lets these tests force the interleavings that are rare against a real
database: live events arriving in the middle of a replay, events without their message,
gaps, a full queue, a conversation disappearing between two reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.realtime import (
    EndEvent,
    FeedEvent,
    Hub,
    HubClosedError,
    MessageEvent,
    SubscriptionClosedError,
    TooManySubscribersError,
    parse_last_event_id,
    sse_events,
)
from app.store.errors import NotFoundError, UnavailableError
from tests.realtime.fakes import FakeSource, announce, seqs, take

CID = "conv-a"


@pytest.fixture
def source() -> FakeSource:
    source = FakeSource(page_size=3)
    source.create(CID)
    return source


@pytest.fixture
async def hub(source: FakeSource) -> AsyncIterator[Hub]:
    hub = Hub(source, None, queue_size=8, check_interval=60, degraded_check_interval=60)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def test_live_messages_arrive_in_order_once(hub: Hub, source: FakeSource) -> None:
    sub = await hub.subscribe(CID)
    messages = [source.append(CID) for _ in range(3)]
    for m in messages:
        announce(hub, m)
    announce(hub, messages[1])  # a repeated event is not a second message
    assert seqs(await take(sub, 3)) == [1, 2, 3]
    assert await sub.get(timeout=0.05) is None
    assert sub.last_seq == 3


async def test_replay_then_live_without_gap_or_duplicate(hub: Hub, source: FakeSource) -> None:
    for _ in range(7):
        source.append(CID)
    source.delay = 0.01  # every page takes a while: live messages land mid-replay
    sub = await hub.subscribe(CID, after_seq=2)
    for _ in range(5):
        announce(hub, source.append(CID))
        await asyncio.sleep(0.005)  # spread over the replay: the interleaving under test
    assert seqs(await take(sub, 10)) == list(range(3, 13))
    assert sub.live
    announce(hub, source.append(CID))
    assert seqs(await take(sub, 1)) == [13]


async def test_messages_committed_during_subscribe_are_not_lost(hub: Hub, source: FakeSource) -> None:
    """The window between reading the position and the first live event: a message stored
    but announced only after the position was read must still come exactly once."""
    source.delay = 0.02
    source.reading.clear()
    pending = asyncio.create_task(hub.subscribe(CID, after_seq=0))
    await asyncio.wait_for(source.reading.wait(), 1)  # the topic is reading last_seq now
    early = source.append(CID)  # committed during that read; its event comes later
    sub = await pending  # positioned: the announcements come after the position was read
    announce(hub, early)
    later = source.append(CID)
    announce(hub, later)
    assert seqs(await take(sub, 2)) == [1, 2]


async def test_an_event_without_its_message_is_read_from_the_source(hub: Hub, source: FakeSource) -> None:
    sub = await hub.subscribe(CID)
    announce(hub, source.append(CID, "x" * 9000), with_message=False)
    (event,) = await take(sub, 1)
    assert isinstance(event, MessageEvent)
    assert event.message.content == "x" * 9000


async def test_a_gap_is_filled_from_the_source_in_order(hub: Hub, source: FakeSource) -> None:
    sub = await hub.subscribe(CID)
    first, _second, third = (source.append(CID) for _ in range(3))
    announce(hub, first)
    announce(hub, third)  # the event for `second` was lost
    assert seqs(await take(sub, 3)) == [1, 2, 3]


async def test_feed_resumed_catches_up_what_was_never_announced(hub: Hub, source: FakeSource) -> None:
    sub = await hub.subscribe(CID)
    for _ in range(7):  # more than one page of the source
        source.append(CID)
    hub.feed_resumed()
    assert seqs(await take(sub, 7)) == list(range(1, 8))


async def test_cleared_messages_are_skipped(hub: Hub, source: FakeSource) -> None:
    for _ in range(4):
        source.append(CID)
    source.clear(CID)  # seq 1..4 gone, never reused
    for _ in range(2):
        source.append(CID)
    sub = await hub.subscribe(CID, after_seq=1)
    assert seqs(await take(sub, 2)) == [5, 6]
    live = await hub.subscribe(CID)
    source.clear(CID)
    announce(hub, source.append(CID))
    assert seqs(await take(live, 1)) == [7]


async def test_slow_consumer_is_disconnected_with_overflow(hub: Hub, source: FakeSource) -> None:
    sub = await hub.subscribe(CID, queue_size=4)
    other = await hub.subscribe(CID)
    announce(hub, source.append(CID))
    assert seqs(await take(sub, 1)) == [1]
    for _ in range(6):
        announce(hub, source.append(CID))
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert end.reason == "overflow"
    assert end.last_seq == 1
    assert sub.closed
    assert hub.overflows == 1
    with pytest.raises(SubscriptionClosedError):
        await sub.get()
    # The other subscriber is unaffected, and the slow one resumes where it stopped.
    assert seqs(await take(other, 7)) == list(range(1, 8))
    resumed = await hub.subscribe(CID, after_seq=end.last_seq)
    assert seqs(await take(resumed, 6)) == list(range(2, 8))


async def test_a_long_replay_never_overflows(hub: Hub, source: FakeSource) -> None:
    """Live messages pile up while a slow consumer replays: the buffer is dropped and the
    replay reads further instead of disconnecting anyone."""
    for _ in range(20):
        source.append(CID)
    sub = await hub.subscribe(CID, after_seq=0, queue_size=4)
    for _ in range(30):
        announce(hub, source.append(CID))
    got: list[int] = []
    async with asyncio.timeout(5):
        while len(got) < 50:
            event = await sub.get()
            assert isinstance(event, MessageEvent)
            got.append(event.seq)
            await asyncio.sleep(0)  # a consumer slower than the feed
    assert got == list(range(1, 51))
    assert hub.overflows == 0


async def test_deleted_conversation_ends_the_stream(hub: Hub, source: FakeSource) -> None:
    sub = await hub.subscribe(CID)
    announce(hub, source.append(CID))
    source.delete(CID)
    hub.feed_resumed()  # the next read of the topic
    events = await take(sub, 2)
    assert seqs(events) == [1]
    end = events[-1]
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"
    assert end.last_seq == 1
    assert hub.stats().topics == 0
    assert hub.subscribers == 0
    with pytest.raises(NotFoundError):
        await hub.subscribe(CID)


async def test_recreated_conversation_ends_the_stream(hub: Hub, source: FakeSource) -> None:
    for _ in range(3):
        source.append(CID)
    sub = await hub.subscribe(CID)
    source.delete(CID)
    source.create(CID)  # same id, seq starts again
    source.append(CID)
    hub.feed_resumed()
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"


async def test_deleted_during_replay_ends_the_stream(hub: Hub, source: FakeSource) -> None:
    for _ in range(9):
        source.append(CID)
    sub = await hub.subscribe(CID, after_seq=0, queue_size=2)
    assert seqs(await take(sub, 1)) == [1]
    source.delete(CID)
    events = await take(sub, 10)
    end = events[-1]
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"


async def test_unavailable_source_is_retried(source: FakeSource) -> None:
    hub = Hub(source, None, check_interval=60, degraded_check_interval=60)
    await hub.start()
    try:
        sub = await hub.subscribe(CID)
        source.fail_next = 2
        announce(hub, source.append(CID), with_message=False)
        (event,) = await take(sub, 1, within=5)
        assert isinstance(event, MessageEvent)
        assert event.seq == 1
        source.create("conv-new")
        source.fail_next = 1
        with pytest.raises(UnavailableError):
            await hub.subscribe("conv-new")
        assert hub.stats().topics == 1  # the failed start left nothing behind
        await hub.subscribe("conv-new")
    finally:
        await hub.stop()


async def test_without_a_feed_the_hub_polls(source: FakeSource) -> None:
    hub = Hub(source, None, check_interval=60, degraded_check_interval=0.05)
    await hub.start()
    try:
        sub = await hub.subscribe(CID)
        source.append(CID)
        assert seqs(await take(sub, 1)) == [1]
    finally:
        await hub.stop()


async def test_one_topic_per_conversation_and_cleanup(hub: Hub, source: FakeSource) -> None:
    source.create("conv-b")
    subs = [await hub.subscribe(CID) for _ in range(5)] + [await hub.subscribe("conv-b")]
    reads = source.reads
    assert reads == 2  # one position read per conversation, not per subscriber
    assert hub.stats().topics == 2
    assert hub.stats().subscribers == 6
    message = source.append(CID)
    announce(hub, message)
    events = [(await take(s, 1))[0] for s in subs[:5]]
    assert all(e is events[0] for e in events)  # one shared event, encoded once
    for s in subs:
        s.close()
        s.close()  # idempotent
    assert hub.stats().topics == 0
    assert hub.subscribers == 0


async def test_close_during_replay_stops_reading(hub: Hub, source: FakeSource) -> None:
    for _ in range(30):
        source.append(CID)
    sub = await hub.subscribe(CID, after_seq=0, queue_size=2)
    await take(sub, 1)
    sub.close()
    reads = source.reads
    await asyncio.sleep(0.05)  # time for reads that should not happen: the absence is under test
    assert source.reads == reads
    assert hub.stats().topics == 0


async def test_stop_ends_streams_and_refuses_new_ones(source: FakeSource) -> None:
    hub = Hub(source, None)
    await hub.start()
    sub = await hub.subscribe(CID)
    await hub.stop()
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert end.reason == "shutdown"
    with pytest.raises(HubClosedError):
        await hub.subscribe(CID)


async def test_subscriber_limit(source: FakeSource) -> None:
    hub = Hub(source, None, max_subscribers=2)
    await hub.start()
    try:
        a = await hub.subscribe(CID)
        await hub.subscribe(CID)
        with pytest.raises(TooManySubscribersError):
            await hub.subscribe(CID)
        a.close()
        await hub.subscribe(CID)
    finally:
        await hub.stop()


async def test_events_for_unwatched_conversations_cost_nothing(hub: Hub, source: FakeSource) -> None:
    hub.feed_event(FeedEvent("nobody-watches", 1, None))
    await asyncio.sleep(0.01)  # time for a read that should not happen: the absence is under test
    assert source.reads == 0
    assert hub.stats().topics == 0


async def test_async_iteration_and_context_manager(hub: Hub, source: FakeSource) -> None:
    announce(hub, source.append(CID))
    async with await hub.subscribe(CID, after_seq=0) as sub:
        async for event in sub:
            assert isinstance(event, MessageEvent)
            assert event.seq == 1
            break
    assert sub.closed


async def test_sse_stream_frames_heartbeats_and_end(hub: Hub, source: FakeSource) -> None:
    sub = await hub.subscribe(CID, queue_size=2)
    stream = sse_events(sub, heartbeat=0.05, retry_ms=1500)
    assert (await anext(stream)).encode() == b"retry: 1500\n\n"
    assert (await anext(stream)).encode() == b": heartbeat\n\n"
    message = source.append(CID, 'line one\nline "two"')
    announce(hub, message)
    frame = (await anext(stream)).encode()
    assert frame.startswith(b"id: 1\nevent: message\ndata: {")
    assert frame.endswith(b"\n\n")
    assert frame.count(b"\n") == 4
    assert b'"content":"line one\\nline \\"two\\""' in frame
    source.delete(CID)
    hub.feed_resumed()
    frame = (await anext(stream)).encode()
    assert frame.startswith(b"event: gone\ndata: {")
    assert b'"last_seq":1' in frame
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert sub.closed


async def test_sse_stream_closes_the_subscription_when_the_client_leaves(hub: Hub) -> None:
    sub = await hub.subscribe(CID)
    stream = sse_events(sub, heartbeat=10)
    await anext(stream)
    await stream.aclose()
    assert sub.closed
    assert hub.subscribers == 0


def test_a_message_frame_is_encoded_once_for_every_subscriber(source: FakeSource) -> None:
    event = MessageEvent(source.append(CID))
    frame = event.sse.encode()
    assert frame == b"id: 1\nevent: message\ndata: " + event.data + b"\n\n"
    assert event.sse is event.sse
    assert event.sse.encode() is frame


def test_encode_and_parse_helpers() -> None:
    end = EndEvent("overflow", CID, 41)
    assert end.sse.encode() == b"event: overflow\ndata: " + end.data + b"\n\n"
    assert b'"reason":"overflow"' in end.data
    assert b'"last_seq":41' in end.data
    assert parse_last_event_id("42") == 42
    assert parse_last_event_id(" 7 ") == 7
    assert parse_last_event_id(None) is None
    assert parse_last_event_id("") is None
    assert parse_last_event_id("9" * 30) == int("9" * 30)  # beyond every last seq: a reset
    for bad in ("-1", "abc", "²", "٣", "1.5"):  # "²" and "٣" pass str.isdigit()
        with pytest.raises(ValueError, match="ASCII digits"):
            parse_last_event_id(bad)
