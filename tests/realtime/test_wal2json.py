"""Turning wal2json (format 2) changes into feed events, without a database."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest

from app.realtime import FeedEvent, PostgresFeed
from app.realtime.postgres_feed import decode_change

ID = "3da3e1f4-cdda-4811-9adc-4c425d82eaa1"


def change(**overrides: Any) -> bytes:
    row: dict[str, Any] = {
        "id": ID,
        "conversation_id": "c-1",
        "seq": 7,
        "role": "assistant",
        "content": "hi",
        "metadata": '{"model": "m", "tokens": 3}',
        "idempotency_key": None,
        "created_at": "2026-11-26 08:12:25.096509+00",
    }
    row.update(overrides)
    body = {
        "action": "I",
        "schema": "public",
        "table": "ai_conversation_messages",
        "columns": [{"name": k, "value": v} for k, v in row.items()],
    }
    return json.dumps(body).encode()


def test_an_insert_becomes_an_event_with_its_message() -> None:
    event = decode_change(change())
    assert event is not None
    assert (event.conversation_id, event.seq) == ("c-1", 7)
    message = event.message
    assert message is not None
    assert message.id == UUID(ID)
    assert message.metadata == {"model": "m", "tokens": 3}
    assert message.created_at == datetime(2026, 11, 26, 8, 12, 25, 96509, tzinfo=UTC)
    assert message.idempotency_key is None


def test_a_column_that_does_not_convert_keeps_the_position() -> None:
    assert decode_change(change(created_at="infinity")) == FeedEvent("c-1", 7, None)
    assert decode_change(change(metadata="{not json")) == FeedEvent("c-1", 7, None)


def test_the_message_keeps_its_owner() -> None:
    owner = "0b9d1c7e-8d2f-4c67-9a51-1d3f0c2b7a11"
    event = decode_change(change(user_id=owner))
    assert isinstance(event, FeedEvent)
    assert event.message is not None
    assert event.message.user_id == UUID(owner)


def test_a_deletion_message_names_the_rows() -> None:
    rows = [
        {"row_id": ID, "conversation_id": "c-1"},
        {"row_id": ID.replace("3", "4"), "conversation_id": "c-2"},
    ]
    body = {
        "action": "M",
        "transactional": True,
        "prefix": "ai_conversations.deleted",
        "content": json.dumps(rows),
    }
    assert decode_change(json.dumps(body).encode()) == [
        (UUID(ID), "c-1"),
        (UUID(ID.replace("3", "4")), "c-2"),
    ]
    other = {**body, "prefix": "someone.else"}
    assert decode_change(json.dumps(other).encode()) is None
    with pytest.raises(msgspec.DecodeError):
        decode_change(json.dumps({**body, "content": "[{}]"}).encode())


def test_unwatched_conversations_are_skipped() -> None:
    assert decode_change(change(), lambda cid: False) is None
    assert decode_change(change(), lambda cid: cid == "c-1") is not None


def test_other_changes_are_ignored_and_unroutable_ones_rejected() -> None:
    assert decode_change(b'{"action": "D", "table": "ai_conversation_messages"}') is None
    assert decode_change(b'{"action": "I", "table": "ai_conversations", "columns": []}') is None
    with pytest.raises(ValueError, match="conversation_id or seq"):
        decode_change(change(seq="7"))
    with pytest.raises(msgspec.DecodeError):
        decode_change(b"not json")


def test_the_feed_turns_bad_changes_into_a_catch_up() -> None:
    events: list[FeedEvent] = []
    resumed: list[bool] = []
    deleted: list[tuple[UUID, str | None]] = []

    class Sink:
        def feed_event(self, event: FeedEvent) -> None:
            events.append(event)

        def feed_resumed(self) -> None:
            resumed.append(True)

        def watching(self, conversation_id: str) -> bool:
            return conversation_id != "nobody"

        def feed_deleted(self, rows: Iterable[tuple[UUID, str | None]]) -> None:
            deleted.extend(rows)

    feed = PostgresFeed("postgresql://unused")
    feed._sink = Sink()
    feed._handle(change())
    feed._handle(b"garbage")
    feed._handle(change(conversation_id=None))
    feed._handle(change(conversation_id="nobody"))  # not watched: not even decoded
    feed._handle(
        json.dumps(
            {"action": "M", "prefix": "ai_conversations.deleted", "content": json.dumps([{"row_id": ID}])}
        ).encode()
    )
    assert deleted == [(UUID(ID), None)]
    assert [(e.conversation_id, e.seq) for e in events] == [("c-1", 7)]
    assert resumed == [True, True]
    assert feed.bad_changes == 2
