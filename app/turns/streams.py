"""TurnStreams: any turn's stream, on any instance, from any position.

One per API process. A stream is a TurnLog (app.turns.log): the events of a turn, from its start
(seq 0) to its last event, kept once per process and read by position by any number of readers.

* A turn generated here: its runner (app.turns.runner) appends each event as the engine yields it,
  so readers here get it with no database in between.
* A turn generated elsewhere (or before a restart): a `RemoteTurn` fills the log from the
  database, `get_turn(id, after_event=head)` (one read per turn, not per reader), then from the live
  feed (the rows of public.ai_turn_events the wal2json feed carries: `feed_turn_events`). A row
  that continues the log is appended at once; a row beyond it, a feed reconnect, or the stream's end
  (whose event is rebuilt from the finished turn) makes it read the database from its head. Every
  seq <= head was committed and read, every later one arrives by the feed or the next read: no gap,
  no duplicate (the log refuses what is not after its head).
* Without a feed that carries turns (Supabase Realtime, or while the feed is down) it reads the
  database every `poll_seconds`.
* Crashes: a RemoteTurn knows the turn's lease from its reads. When the lease runs out without a
  renewal, it asks the database to fail the turn (public.fail_expired_turns): the stream's error
  event follows, within the lease plus one read. The pg_cron job does the same for turns nobody
  reads, within a minute more.

Readers are authorised by the caller's read of the turn (TurnView, as the caller, under RLS); the
streams then read as the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from uuid import UUID

from app.realtime.events import TurnEventsRow
from app.store.errors import NotFoundError, StoreError
from app.store.manager import ConversationManager
from app.store.models import TurnView
from app.turns.events import StreamEvent, TurnFailed
from app.turns.log import TurnLog
from app.turns.stored import END_TYPES, decode_event, ended, started

__all__ = ["RemoteTurn", "TurnStreams"]

log = logging.getLogger("app.turns")


class RemoteTurn:
    """The log of a turn generated elsewhere, filled from the database and the feed."""

    __slots__ = ("_dirty", "_sync_task", "_watch_task", "lease_expires_at", "log", "readers", "streams")

    def __init__(self, streams: TurnStreams, view: TurnView) -> None:
        self.streams = streams
        self.log = TurnLog(view.turn.id)
        self.readers = 0
        self.lease_expires_at = view.turn.lease_expires_at
        self._dirty = False
        self._sync_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.log.append(0, started(view))
        if view.events is not None:
            self._apply(view)
        else:
            self.stale()
        self._watch_task = asyncio.create_task(self._watch(), name=f"turn-watch-{view.turn.id}")

    @property
    def turn_id(self) -> UUID:
        assert self.log.turn_id is not None
        return self.log.turn_id

    def on_row(self, row: TurnEventsRow) -> None:
        """A batch the feed carried: appended when it continues the log; else read."""
        if self.log.ended or row.last_seq <= self.log.head:
            return
        if row.seq > self.log.head + 1 or any(e.get("type") in END_TYPES for e in row.events):
            self.stale()
            return
        for offset, stored in enumerate(row.events):
            event = decode_event(stored)
            if event is not None:
                self.log.append(row.seq + offset, event)

    def stale(self) -> None:
        """Something may be missing: read the database from the head."""
        self._dirty = True
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._sync(), name=f"turn-sync-{self.turn_id}")

    async def _sync(self) -> None:
        while self._dirty and not self.log.ended:
            self._dirty = False
            try:
                view = await self.streams.store.get_turn(self.turn_id, after_event=self.log.head)
            except NotFoundError:
                self._end_gone()
                return
            except StoreError as exc:
                log.warning("reading turn %s failed, retrying: %s", self.turn_id, exc)
                self._dirty = True
                await asyncio.sleep(self.streams.poll_seconds)
                continue
            self._apply(view)
            if view.events is not None and len(view.events) >= self.streams.page_size:
                self._dirty = True  # more after this page

    def _apply(self, view: TurnView) -> None:
        self.lease_expires_at = view.turn.lease_expires_at
        end = False
        for batch in view.events or []:
            for offset, stored in enumerate(batch.events):
                if stored.get("type") in END_TYPES:
                    end = True
                    break
                event = decode_event(stored)
                if event is not None:
                    self.log.append(batch.seq + offset, event)
        if view.turn.finished and (end or not view.events):
            # The end written by the trigger, or a finished turn whose events were pruned (or
            # never written: TURN_STREAM=memory): the stored reply, never silence.
            self.log.append(max(self.log.head + 1, view.turn.event_seq), ended(view))

    def _end_gone(self) -> None:
        self.log.append(
            self.log.head + 1,
            TurnFailed(
                error="not_found",
                message="the turn's conversation was deleted or has expired",
                details={"turn_id": str(self.turn_id)},
                status=404,
            ),
        )

    async def _watch(self) -> None:
        """Reads the turn when its lease should have been renewed, or every poll interval when
        the feed does not carry turns; fails the turn when the lease ran out."""
        streams = self.streams
        while not self.log.ended:
            wait = streams.poll_seconds if not streams.feed_live() else streams.lease_check_seconds
            if self.lease_expires_at is not None:
                wait = min(wait, max(0.05, self.lease_expires_at.timestamp() - time.time() + 0.05))
            await asyncio.sleep(wait)
            if self.log.ended:
                return
            expired = self.lease_expires_at is not None and self.lease_expires_at.timestamp() <= time.time()
            if expired:
                try:
                    await streams.store.fail_expired_turns(self.turn_id)
                except StoreError as exc:
                    log.warning("could not fail the abandoned turn %s: %s", self.turn_id, exc)
            self.stale()
            if self._sync_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._sync_task)

    def close(self) -> None:
        for task in (self._sync_task, self._watch_task):
            if task is not None:
                task.cancel()


class TurnStreams:
    """The turn streams of one process (see the module docstring); the hub's `turns` sink."""

    def __init__(
        self,
        store: ConversationManager,
        *,
        feed_live: Callable[[], bool] = lambda: False,
        poll_seconds: float = 0.5,
        lease_check_seconds: float = 30.0,
        page_size: int = 1000,
    ) -> None:
        self.store = store
        self.feed_live = feed_live
        self.poll_seconds = poll_seconds
        self.lease_check_seconds = lease_check_seconds
        self.page_size = page_size
        self.local: dict[UUID, TurnLog] = {}
        self.remote: dict[UUID, RemoteTurn] = {}
        # The runner's stop (app.turns.runner), for the stops the feed carries.
        self.stop_local: Callable[[UUID], bool] | None = None

    # -- reading ---------------------------------------------------------------------------------
    async def read(self, view: TurnView, after: int | None = None) -> AsyncIterator[tuple[int, StreamEvent]]:
        """The turn's events after `after` (None: from its start), live, then its last event.
        `view` is the caller's read of the turn (its authorisation; with events from 0 when it
        read them, which a new RemoteTurn uses instead of reading again)."""
        turn_id = view.turn.id
        local = self.local.get(turn_id)
        if local is not None:
            async for entry in local.read(after):
                yield entry
            return
        remote = self.remote.get(turn_id)
        if remote is None:
            remote = self.remote[turn_id] = RemoteTurn(self, view)
        remote.readers += 1
        try:
            async for entry in remote.log.read(after):
                yield entry
        finally:
            remote.readers -= 1
            if remote.readers == 0 and self.remote.get(turn_id) is remote:
                del self.remote[turn_id]
                remote.close()

    async def wait_end(self, view: TurnView, timeout: float) -> StreamEvent | None:  # noqa: ASYNC109
        """The turn's last event, or None if it does not come within `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for _, event in self.read(view, max(view.turn.event_seq, 1 << 30)):
                    return event
        return None

    # -- the runner's side -----------------------------------------------------------------------
    def open_local(self, turn_id: UUID) -> TurnLog:
        """The log of a turn this process generates (its runner appends to it)."""
        stream = self.local[turn_id] = TurnLog(turn_id)
        remote = self.remote.pop(turn_id, None)
        if remote is not None:  # read here before it ran here (a retry): hand its readers over
            remote.close()
            remote.log.append(
                remote.log.head + 1,
                TurnFailed(error="turn_restarted", message="the turn was run again", status=409),
            )
        return stream

    def close_local(self, turn_id: UUID, stream: TurnLog) -> None:
        if self.local.get(turn_id) is stream:
            del self.local[turn_id]

    # -- TurnFeedSink ----------------------------------------------------------------------------
    def feed_turn_events(self, row: TurnEventsRow) -> None:
        remote = self.remote.get(row.turn_id)
        if remote is not None:
            remote.on_row(row)

    def feed_turn_stop(self, turn_id: UUID) -> None:
        if self.stop_local is not None:
            self.stop_local(turn_id)

    def feed_resumed(self) -> None:
        for remote in list(self.remote.values()):
            remote.stale()

    def watching_turn(self, turn_id: UUID) -> bool:
        return turn_id in self.remote

    def close(self) -> None:
        for remote in list(self.remote.values()):
            remote.close()
        self.remote.clear()
