"""The local feed: logical decoding of new messages with wal2json, as Supabase Realtime does.

Chosen over LISTEN/NOTIFY by measurement (``python -m bench.realtime``): a NOTIFY takes a
database-wide lock at commit and holds it through the commit's WAL flush, so every appending
transaction that notifies waits for the previous one's fsync: appends at 8-16 clients ran at
about half the throughput with a notify trigger. Logical decoding reads the WAL after the
commit, in the walsender, off the appenders' path: no measurable cost to appends, no 8000-byte
payload limit, and it sees every insert however it was written (store, SQL editor, import).

One replication connection per API process streams the changes of
public.ai_conversation_messages and public.ai_turn_events (inserts only, wal2json format 2) from a
temporary slot (see app.realtime.replication), and the logical messages the database writes when it
deletes conversations (prefix `ai_conversations.deleted`: the rows removed), so that a stream bound
to a deleted row ends before a later conversation of the same id stores anything, and when a stop
of a turn is asked for (prefix `ai_turns.stop`). The batches of the turns' streams and the stops go
to the hub's turn streams (app.turns.streams: `Hub.turns`). The database
needs wal_level=logical (the local stack and Supabase have it), wal2json (ships with Supabase;
postgresql-15-wal2json locally), a free replication slot and wal sender per API process, and a
role with the REPLICATION attribute.
The URL must be a direct or session connection, not a transaction pooler.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from psycopg.conninfo import conninfo_to_dict

from app.realtime.backoff import Backoff
from app.realtime.events import FeedEvent, TurnEventsRow
from app.realtime.feed import SupervisedFeed
from app.realtime.replication import ReplicationStream
from app.store.models import Message

__all__ = [
    "DELETED_PREFIX",
    "STOP_PREFIX",
    "TABLE",
    "TURN_EVENTS_TABLE",
    "Deleted",
    "PostgresFeed",
    "TurnStop",
    "decode_change",
]

log = logging.getLogger("app.realtime")

TABLE = "public.ai_conversation_messages"
# The batches of the turns' streams (app.turns.streams): inserts only, like the messages.
TURN_EVENTS_TABLE = "public.ai_turn_events"
# Written by private.announce_conversations_deleted(): a JSON array of {row_id, conversation_id}.
DELETED_PREFIX = "ai_conversations.deleted"
# Written by public.stop_turn(): the turn's id.
STOP_PREFIX = "ai_turns.stop"
_OPTIONS = {
    "format-version": "2",
    "include-transaction": "false",
    "include-timestamp": "false",
    "include-types": "false",
    "actions": "insert",
    "add-tables": f"{TABLE},{TURN_EVENTS_TABLE}",
    "add-msg-prefixes": f"{DELETED_PREFIX},{STOP_PREFIX}",
}
_sessions = itertools.count(1)
# How poolers refuse a replication connection (pgbouncer: "unsupported startup parameter").
_POOLER_REFUSAL = re.compile(
    r"unsupported startup parameter: replication|replication.{0,40}not supported", re.I
)


class _Column(msgspec.Struct):
    name: str
    value: Any = None


class _Change(msgspec.Struct):
    action: str
    schema: str = ""
    table: str = ""
    columns: list[_Column] = msgspec.field(default_factory=list)
    prefix: str = ""  # of a logical message (action "M")
    content: str = ""


class _DeletedRow(msgspec.Struct):
    row_id: UUID
    conversation_id: str | None = None


_decoder = msgspec.json.Decoder(_Change)
_deleted_decoder = msgspec.json.Decoder(list[_DeletedRow])

Deleted = list[tuple[UUID, str | None]]
"""Conversation rows a statement deleted, as (row id, conversation id)."""


@dataclass(frozen=True, slots=True)
class TurnStop:
    """A stop of a turn was asked for (public.stop_turn's logical message)."""

    turn_id: UUID


def _turn_events(change: _Change, wanted_turn: Callable[[UUID], bool] | None) -> TurnEventsRow | None:
    row = {c.name: c.value for c in change.columns}
    turn_id = UUID(str(row.get("turn_id")))
    if wanted_turn is not None and not wanted_turn(turn_id):
        return None
    seq, last_seq, events = row.get("seq"), row.get("last_seq"), row.get("events")
    events = json.loads(events) if isinstance(events, str) else events
    if not isinstance(seq, int) or not isinstance(last_seq, int) or not isinstance(events, list):
        raise ValueError("turn events row without seq, last_seq or an events array")
    return TurnEventsRow(turn_id, seq, last_seq, events)


def decode_change(
    data: bytes | memoryview,
    wanted: Callable[[str], bool] | None = None,
    wanted_turn: Callable[[UUID], bool] | None = None,
) -> FeedEvent | Deleted | TurnEventsRow | TurnStop | None:
    """A wal2json (format 2) message insert as a FeedEvent, a deletion message as the rows it
    names, a batch of a turn's stream as a TurnEventsRow, a stop message as a TurnStop; None for
    anything else, or for a conversation (turn) `wanted` (`wanted_turn`) says nobody watches. The
    message is left out (the hub reads it) when a column does not convert; the position never
    is. Raises ValueError (msgspec.DecodeError) for what cannot be routed."""
    change = _decoder.decode(data)
    if change.action == "M" and change.prefix == DELETED_PREFIX:
        return [(row.row_id, row.conversation_id) for row in _deleted_decoder.decode(change.content)]
    if change.action == "M" and change.prefix == STOP_PREFIX:
        return TurnStop(UUID(change.content))
    if change.action == "I" and change.table == "ai_turn_events":
        return _turn_events(change, wanted_turn)
    if change.action != "I" or change.table != "ai_conversation_messages":
        return None
    row = {c.name: c.value for c in change.columns}
    conversation_id, seq = row.get("conversation_id"), row.get("seq")
    if not isinstance(conversation_id, str) or not isinstance(seq, int):
        raise ValueError("insert without conversation_id or seq")
    if wanted is not None and not wanted(conversation_id):
        return None
    try:
        metadata = row.get("metadata")
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        if not isinstance(metadata, dict):
            raise TypeError("metadata is not an object")
        message: Message | None = Message(
            id=UUID(row["id"]),
            conversation_id=conversation_id,
            seq=seq,
            role=row["role"],
            content=row["content"],
            metadata=metadata,
            created_at=datetime.fromisoformat(row["created_at"]),
            idempotency_key=row.get("idempotency_key"),
            tokens=int(row.get("tokens") or 0),
            user_id=UUID(row["user_id"]) if row.get("user_id") else None,
        )
    except (KeyError, TypeError, ValueError):
        message = None
    return FeedEvent(conversation_id, seq, message)


class PostgresFeed(SupervisedFeed):
    """New messages streamed from Postgres by logical decoding (wal2json), with reconnects."""

    name = "postgres"
    carries_turns = True

    def __init__(
        self,
        url: str,
        *,
        backoff: Backoff | None = None,
        status_interval: float = 10.0,
        connect_timeout: float = 5.0,
        slot_prefix: str = "ai_conversations_feed",
    ) -> None:
        super().__init__(backoff)
        self.url = url
        self.status_interval = status_interval
        self.connect_timeout = connect_timeout
        self.slot_prefix = slot_prefix
        self.bad_changes = 0
        self.backend_pid: int | None = None  # the walsender serving us, when connected
        self.slot: str | None = None
        self.pooler_refused = 0  # connections a pooler refused: the URL is not a direct one

    async def _session(self) -> None:
        stream = ReplicationStream(
            self.url,
            application_name="supabase-conversations-realtime",
            connect_timeout=self.connect_timeout,
            status_interval=self.status_interval,
        )
        try:
            try:
                await stream.connect()
            except psycopg.OperationalError as exc:
                if _POOLER_REFUSAL.search(str(exc)):
                    self._refused_by_pooler(exc)
                raise
            slot = f"{self.slot_prefix}_{os.getpid()}_{next(_sessions)}"
            # Waits for transactions running now to finish (the slot's consistent point);
            # meanwhile the hub polls. Changes committed after it are all streamed.
            await stream.command(f'CREATE_REPLICATION_SLOT "{slot}" TEMPORARY LOGICAL wal2json')
            options = ", ".join(f"\"{k}\" '{v}'" for k, v in _OPTIONS.items())
            await stream.command(f'START_REPLICATION SLOT "{slot}" LOGICAL 0/0 ({options})')
            self.slot, self.backend_pid = slot, stream.backend_pid
            self._listening()  # the hub's catch-up read comes after the consistent point
            async with contextlib.aclosing(stream.messages()) as messages:
                async for message in messages:
                    self._handle(message.data)
        finally:
            self.slot = self.backend_pid = None
            stream.close()

    def _refused_by_pooler(self, exc: psycopg.OperationalError) -> None:
        """Said loudly, once: a transaction pooler (Supavisor on 6543, pgbouncer) cannot carry
        logical replication. The feed keeps retrying (the URL may be fixed behind it) and the
        hub keeps every stream moving by polling meanwhile."""
        self.pooler_refused += 1
        if self.pooler_refused == 1:
            where = conninfo_to_dict(self.url)
            log.error(
                "the live feed needs a direct connection to Postgres (logical replication), but %s:%s "
                "refused a replication connection: it is a connection pooler (%s). Set "
                "REALTIME_DATABASE_URL to a direct connection (Supabase: the database's own host on "
                "port 5432, or Supavisor in session mode). Until then streams move by polling, every "
                "REALTIME_DEGRADED_CHECK_SECONDS.",
                where.get("host"),
                where.get("port"),
                str(exc).strip().splitlines()[-1],
            )

    def _handle(self, data: bytes | memoryview) -> None:
        try:
            event = decode_change(data, self._watched, self._watched_turn)
        except (msgspec.DecodeError, ValueError) as exc:
            # Not an insert we can route: let the hub re-read every watched conversation.
            self.bad_changes += 1
            if self.bad_changes in (1, 10, 100) or self.bad_changes % 1000 == 0:
                log.warning("undecodable wal2json change (%d so far): %s", self.bad_changes, exc)
            if self._sink is not None:
                self._sink.feed_resumed()
            return
        if isinstance(event, list):
            self._emit_deleted(event)
        elif isinstance(event, TurnEventsRow):
            self._emit_turn_events(event)
        elif isinstance(event, TurnStop):
            self._emit_turn_stop(event.turn_id)
        elif event is not None:
            self._emit(event)
