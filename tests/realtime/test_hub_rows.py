"""A stream is bound to the conversation row it was authorised for, never to the id string.

Conversation ids are reused once a conversation is deleted or expires, and the next
conversation of an id may be another user's. These tests force, against the in-memory source,
the interleavings in which a hub keyed by the id alone handed one user's messages to another
(issue 22, item 1): a feed event of the new row whose seq follows the old row's head, a
deletion the feed reported or missed, a subscriber authorised for a row the topic is not bound
to.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from app.realtime import EndEvent, FeedEvent, Hub, MessageEvent
from app.store.errors import NotFoundError
from tests.realtime.fakes import FakeSource, announce, seqs, take

CID = "support-ticket-X"
ALICE = uuid.uuid4()
BOB = uuid.uuid4()


@pytest.fixture
def source() -> FakeSource:
    return FakeSource(page_size=3)


@pytest.fixture
async def hub(source: FakeSource) -> AsyncIterator[Hub]:
    # No periodic check during a test: only what the test does makes the hub read.
    hub = Hub(source, None, queue_size=8, check_interval=3600, degraded_check_interval=3600)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def _alice_stream(hub: Hub, source: FakeSource) -> tuple[uuid.UUID, object]:
    row = source.create(CID, owner=ALICE)
    announce(hub, source.append(CID, "alice's first"))
    sub = await hub.subscribe(CID, after_seq=0, row=row)
    assert seqs(await take(sub, 1)) == [1]
    return row, sub


async def test_another_users_message_after_reuse_is_never_published(hub: Hub, source: FakeSource) -> None:
    """The reproduction: Alice's stream at head 1; the id is deleted and created again for
    Bob; Bob's message seq 2 follows Alice's head. The feed event is only a hint: the read it
    causes finds another row, and Alice's stream ends `gone` with nothing of Bob's."""
    _row, sub = await _alice_stream(hub, source)
    source.delete(CID)  # the feed missed the deletion (no feed_deleted)
    source.create(CID, owner=BOB)
    bob = [source.append(CID, f"bob's secret {n}") for n in (1, 2, 3)]
    for message in bob:
        announce(hub, message)
    events = await take(sub, 3)  # type: ignore[arg-type]
    assert [type(e) for e in events] == [EndEvent]
    end = events[0]
    assert isinstance(end, EndEvent)
    assert (end.reason, end.last_seq) == ("gone", 1)
    assert hub.stats().topics == 0


async def test_a_reported_deletion_ends_the_stream_at_once(hub: Hub, source: FakeSource) -> None:
    row, sub = await _alice_stream(hub, source)
    reads = source.reads
    source.delete(CID)
    hub.feed_deleted([(row, CID)])
    (end,) = await take(sub, 1)  # type: ignore[arg-type]
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"
    assert source.reads == reads  # no read needed: the deletion names the row


async def test_a_deletion_of_another_row_of_the_id_changes_nothing(hub: Hub, source: FakeSource) -> None:
    _row, sub = await _alice_stream(hub, source)
    hub.feed_deleted([(uuid.uuid4(), CID)])  # an earlier conversation of this id, say
    announce(hub, source.append(CID, "still alice"))
    assert seqs(await take(sub, 1)) == [2]  # type: ignore[arg-type]


async def test_same_owner_reuse_is_not_published_before_a_read(hub: Hub, source: FakeSource) -> None:
    """Alice's id deleted and created again for Alice while the feed was away: after the feed
    resumes, its messages are published only once a read confirmed the row, which it does not."""
    _row, sub = await _alice_stream(hub, source)
    source.delete(CID)
    source.create(CID, owner=ALICE)
    hub.feed_resumed()  # its read runs after the events below (the loop has not turned)
    announce(hub, source.append(CID, "another conversation"))
    announce(hub, source.append(CID, "of alice's"))
    events = await take(sub, 3)  # type: ignore[arg-type]
    assert [type(e) for e in events] == [EndEvent]


async def test_an_older_message_of_the_id_is_only_a_hint(hub: Hub, source: FakeSource) -> None:
    """A late feed event of an earlier conversation of the id (older than the row) reaches a
    new subscriber only as the row's own stored message, read from the database."""
    source.create(CID, owner=ALICE)
    stale = source.append(CID, "of the earlier conversation")
    source.delete(CID)
    row = source.create(CID, owner=ALICE)
    sub = await hub.subscribe(CID, row=row)
    reads = source.reads
    announce(hub, stale)  # seq 1 == head + 1 of the new row, but older than the row
    own = source.append(CID, "of this conversation")
    events = await take(sub, 1)  # type: ignore[arg-type]
    assert isinstance(events[0], MessageEvent)
    assert events[0].message.content == own.content
    assert source.reads > reads


async def test_a_subscriber_of_the_new_row_replaces_the_old_topic(hub: Hub, source: FakeSource) -> None:
    _row, alice = await _alice_stream(hub, source)
    source.delete(CID)
    bob_row = source.create(CID, owner=BOB)
    source.append(CID, "bob's first")
    bob = await hub.subscribe(CID, after_seq=0, row=bob_row)
    (end,) = await take(alice, 1)  # type: ignore[arg-type]
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"
    assert seqs(await take(bob, 1)) == [1]
    announce(hub, source.append(CID, "bob's second"))
    assert seqs(await take(bob, 1)) == [2]


async def test_a_subscriber_authorised_for_a_deleted_row_is_refused(hub: Hub, source: FakeSource) -> None:
    old = source.create(CID, owner=ALICE)
    source.delete(CID)
    source.create(CID, owner=BOB)
    with pytest.raises(NotFoundError):
        await hub.subscribe(CID, row=old)
    assert hub.subscribers == 0


async def test_a_deletion_reported_while_the_topic_reads_its_row(hub: Hub, source: FakeSource) -> None:
    """The topic's first read finds Alice's row; her conversation's deletion is reported while
    that read is in flight and a new one of the id follows: nothing is published unread."""
    row = source.create(CID, owner=ALICE)
    source.hold = asyncio.Event()
    task = asyncio.create_task(hub.subscribe(CID, row=row))
    await source.reading.wait()  # the topic's first read saw Alice's row and is in flight
    source.delete(CID)
    hub.feed_deleted([(row, CID)])  # the topic does not know its row yet
    source.create(CID, owner=ALICE)
    source.hold.set()
    sub = await task
    hub.feed_event(FeedEvent(CID, 1, source.append(CID, "of the next conversation")))
    (end,) = await take(sub, 1)
    assert isinstance(end, EndEvent)
    assert end.reason == "gone"
