"""TurnRunner: every turn runs to its end in a task of its own, whatever its client does.

A face begins a turn (TurnEngine.begin, in its request) and hands it to the runner; the runner
drives the engine's events in a task of the process, not of the request, numbers them (the start
0, then 1, 2, ...) and appends them to the turn's log (app.turns.log), which the face then reads,
like any other reader. A client that goes away ends only its read; the turn goes on, its reply is
stored, and any reader on any instance can pick its stream up again (app.turns.streams).

What the runner adds to the engine:

* the journal: the events between the start and the end are written to public.ai_turn_events in
  small batches, one write in flight per turn (a write starts when the previous one committed and
  `flush_seconds` passed since it started, or since the turn began for the first; whatever came
  meanwhile goes in the next). The last batch goes with the turn's output: the engine takes it
  (TurnControl.last_batch, once the write in flight is over) and finish_turn writes it in the
  transaction that stores the output, before the stream's end, so a turn shorter than
  `flush_seconds` costs no round trip more than one without the journal. With
  TURN_STREAM=memory nothing is written: a stream is then readable only here while it runs;
  elsewhere, its start and (once it is stored) its reply.
* the lease: every running turn's lease is renewed in one call (renew_turn_leases) every third of
  turn_lease_seconds, while turns run here (an idle process makes no call); the answer names the
  turns whose stop was asked for elsewhere and those that are not running any more (failed by
  their lease meanwhile), which are stopped here.
* stop: `stop_local` sets the turn's TurnControl.stop; the engine ends the model call, stores what
  was generated and finishes the turn as stopped. A stop asked on another instance reaches this
  one through the live feed (public.stop_turn's logical message) or, without a feed, the next
  lease renewal.
* the title of a new conversation, once its answer is out (TurnEngine.title).

Shutdown (`shutdown`, on SIGTERM, before the server waits for its connections): running turns
get up to API_SHUTDOWN_TIMEOUT_SECONDS to finish; what still runs then is cancelled without being
stored, its lease is no longer renewed, and it is marked failed (by a reader, or the pg_cron job)
once the lease runs out. Its input and any tool results stay stored, and a retry with its key
runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from app.llm.provider import ProviderError
from app.store.errors import StoreError
from app.store.manager import ConversationManager
from app.store.models import TurnView
from app.turns.engine import Turn, TurnControl, TurnEngine
from app.turns.events import TERMINAL, StreamEvent, TurnCompleted, TurnFailed, TurnStarted
from app.turns.log import TurnLog
from app.turns.stored import encode_event
from app.turns.streams import TurnStreams

__all__ = ["Journal", "RunningTurn", "TurnRunner", "failure_of"]

log = logging.getLogger("app.turns")

_STORE_STATUS = {"not_found": 404, "conflict": 409, "busy": 409, "invalid_input": 422, "forbidden": 403}


def failure_of(exc: BaseException) -> TurnFailed:
    """A turn's failure as its stream's last event; `exception` keeps it for the face that runs
    where it was raised (it answers it as its exception handlers would)."""
    if isinstance(exc, ProviderError):
        return TurnFailed(error=exc.code, message=exc.message, status=exc.status_code, exception=exc)
    if isinstance(exc, StoreError):
        status = 503 if exc.code == "unavailable" else _STORE_STATUS.get(exc.code, 500)
        return TurnFailed(error=exc.code, message=exc.message, status=status, exception=exc)
    return TurnFailed(
        error="internal_error", message="the turn failed unexpectedly", status=500, exception=exc
    )


class Journal:
    """Writes one running turn's events to the database in batches (see the module docstring).

    A write is due `flush_seconds` after the previous one began (the first, after the turn
    began): a timer, not a task, waits for it, so a turn shorter than that costs no task and no
    round trip of its own. Its last batch is not written here: `last_batch` hands it to
    finish_turn, which writes it in the transaction that stores the output (the stream's end then
    comes right after it)."""

    __slots__ = (
        "_failures",
        "_final",
        "_first",
        "_last_write",
        "_pending",
        "_task",
        "_timer",
        "flush_seconds",
        "lost",
        "store",
        "turn_id",
        "writes",
    )

    def __init__(self, store: ConversationManager, turn_id: UUID, flush_seconds: float) -> None:
        self.store = store
        self.turn_id = turn_id
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._first = 0
        # As if a write started when the turn began: its first batch goes `flush_seconds` later
        # with whatever came by then (a short reply goes with its output, in finish_turn).
        self._last_write = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._final = False  # the last batch was handed over: nothing more is written here
        self._failures = 0
        self.lost: Callable[[], None] | None = None  # called when the turn is found not running
        self.writes = 0

    def add(self, seq: int, event: StreamEvent) -> None:
        if not self._pending:
            self._first = seq
        self._pending.append(encode_event(event))
        self._schedule()

    async def last_batch(self) -> tuple[int, list[dict[str, Any]]] | None:
        """The events not written yet, as (first seq, events), once the write in flight is over:
        finish_turn writes them with the turn's output. They stay pending (a finish_turn that
        fails is followed by another, which writes them); nothing more is written here."""
        self._final = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._task is not None:
            await asyncio.shield(self._task)
        return (self._first, list(self._pending)) if self._pending else None

    async def flush(self) -> None:
        """Until every event added is written here, without finish_turn (benchmark D4 measures
        the journal's WAL alone)."""
        batch = await self.last_batch()
        if batch is not None and await self.store.append_turn_events(self.turn_id, *batch):
            self._pending = []
            self.writes += 1

    def _schedule(self) -> None:
        if self._final or self._task is not None or self._timer is not None or not self._pending:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_write + self.flush_seconds - time.monotonic()
        self._timer = loop.call_at(loop.time() + max(0.0, wait), self._due)

    def _due(self) -> None:
        self._timer = None
        if not self._final and self._pending and self._task is None:
            self._task = asyncio.create_task(self._write(), name=f"turn-journal-{self.turn_id}")

    async def _write(self) -> None:
        batch, first = self._pending, self._first
        self._pending, self._first = [], first + len(batch)
        self._last_write = time.monotonic()
        written = True
        try:
            written = await self.store.append_turn_events(self.turn_id, first, batch)
            self._failures = 0
            self.writes += 1
        except StoreError as exc:
            self._failures += 1
            self._pending, self._first = batch + self._pending, first
            if self._failures % 3 == 0:
                log.warning("could not write the stream of turn %s: %s", self.turn_id, exc)
        finally:
            self._task = None
        if not written and self.lost is not None:
            self.lost()
        # After three failures in a row, the next event (or the last batch, with the output) tries
        # again, not a timer.
        if self._failures % 3 or not self._failures:
            self._schedule()


@dataclass(slots=True, eq=False)
class RunningTurn:
    """A turn this process runs: its log, its control, its task and, once over, its last event."""

    turn: Turn
    log: TurnLog
    control: TurnControl
    journal: Journal | None
    done: asyncio.Future[StreamEvent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    task: asyncio.Task[None] | None = None

    @property
    def turn_id(self) -> UUID | None:
        return self.turn.id


class TurnRunner:
    """The turns this process runs (see the module docstring)."""

    def __init__(
        self,
        streams: TurnStreams,
        store: ConversationManager,
        *,
        journal: bool = True,
        flush_seconds: float = 0.02,
        lease_seconds: float = 10.0,
    ) -> None:
        self.streams = streams
        self.store = store  # the service: journal and leases
        self.journal = journal
        self.flush_seconds = flush_seconds
        self.lease_seconds = lease_seconds
        self.running: dict[UUID, RunningTurn] = {}
        self._anonymous: set[RunningTurn] = set()  # turns that store nothing (no id)
        self._lease_task: asyncio.Task[None] | None = None
        self._busy = asyncio.Event()  # set while turns run here: the leases' task wakes
        self._accepting = True
        streams.stop_local = self.stop_local

    # -- lifespan --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._lease_task is None:
            self._lease_task = asyncio.create_task(self._renew_leases(), name="turn-leases")

    async def shutdown(self, timeout: float) -> None:  # noqa: ASYNC109
        """Waits up to `timeout` seconds for the running turns, then cancels the rest (see the
        module docstring)."""
        self._accepting = False
        tasks = [rt.task for rt in [*self.running.values(), *self._anonymous] if rt.task is not None]
        if tasks:
            log.info("waiting up to %s s for %d running turn(s)", timeout, len(tasks))
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "%d turn(s) still running after %s s were cancelled; they are marked failed when "
                    "their lease runs out",
                    len(pending),
                    timeout,
                )
                await asyncio.gather(*pending, return_exceptions=True)
        lease, self._lease_task = self._lease_task, None
        if lease is not None:
            lease.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lease

    @property
    def accepting(self) -> bool:
        return self._accepting

    # -- running ---------------------------------------------------------------------------------
    def run(self, engine: TurnEngine, turn: Turn, *, stream: bool = True) -> RunningTurn:
        """Starts the turn's task; returns at once. Read it with `running.log.read()`, or await
        `running.done` for its last event."""
        turn_id = turn.id
        control = TurnControl()
        journal = None
        if turn_id is not None and self.journal and stream:
            journal = Journal(self.store, turn_id, self.flush_seconds)
            journal.lost = control.stop.set
            control.last_batch = journal.last_batch
        stream_log = self.streams.open_local(turn_id) if turn_id is not None else TurnLog(None)
        running = RunningTurn(turn, stream_log, control, journal)
        if turn_id is not None:
            self.running[turn_id] = running
            self._busy.set()
        else:
            self._anonymous.add(running)
        running.task = asyncio.create_task(self._run(engine, running, stream), name=f"turn-{turn_id}")
        return running

    async def stop(self, store: ConversationManager, turn_id: UUID | str, wait: float) -> TurnView:
        """Asks the turn to stop as `store`'s principal (NotFoundError when not theirs), reaches it
        at once when it runs here (elsewhere, through the feed), and waits up to `wait` seconds
        for it to end; the turn as it is then."""
        record = await store.stop_turn(turn_id)
        self.stop_local(record.id)
        view = await store.get_turn(record.id, after_event=0)
        if not view.turn.finished and wait > 0:
            await self.streams.wait_end(view, wait)
            view = await store.get_turn(record.id)
        return view

    def stop_local(self, turn_id: UUID) -> bool:
        """Stops the turn if it runs here (True)."""
        running = self.running.get(turn_id)
        if running is None:
            return False
        running.control.stop.set()
        return True

    async def _run(self, engine: TurnEngine, running: RunningTurn, stream: bool) -> None:
        turn, stream_log, journal = running.turn, running.log, running.journal
        seq = 0
        last: StreamEvent | None = None
        title: Callable[[], Awaitable[None]] | None = None
        try:
            async for event in engine.events(turn, stream=stream, control=running.control):
                if journal is not None and not isinstance(event, TurnStarted | TurnCompleted):
                    journal.add(seq, event)
                stream_log.append(seq, event)
                seq += 1
                if isinstance(event, TERMINAL):
                    last = event
            title = engine.title(turn) if isinstance(last, TurnCompleted) else None
        except asyncio.CancelledError:
            last = TurnFailed(
                error="shutdown", message="the server stopped before the turn finished", status=503
            )
            raise
        except Exception as exc:  # every failure is the stream's last event
            if not isinstance(exc, ProviderError | StoreError):
                log.exception("turn %s failed unexpectedly", turn.id)
            last = failure_of(exc)
        finally:
            if last is None:
                last = TurnFailed(
                    error="internal_error", message="the turn ended without its output", status=500
                )
            if not stream_log.ended:
                stream_log.append(max(seq, stream_log.head + 1), last)
            if not running.done.done():
                running.done.set_result(last)
            if turn.id is not None:
                self.running.pop(turn.id, None)
                self.streams.close_local(turn.id, stream_log)
            else:
                self._anonymous.discard(running)
        if title is not None:
            await title()

    # -- leases ----------------------------------------------------------------------------------
    async def _renew_leases(self) -> None:
        # Idle while nothing runs here: a process without turns makes no call (and none at
        # startup, racing its first requests). The lease's length is learned by the first renewal,
        # made at once; later ones come a third of it after the last, or after a turn began.
        known = False
        while True:
            if not self.running:
                self._busy.clear()
                await self._busy.wait()
            if known:
                await asyncio.sleep(self.lease_seconds / 3)
            ids = list(self.running)
            if not ids:
                continue
            try:
                renewal = await self.store.renew_turn_leases(ids)
            except StoreError as exc:
                log.warning("could not renew the leases of %d running turn(s): %s", len(ids), exc)
                known = True  # retried a third of a lease later, not in a loop
                continue
            known = True
            self.lease_seconds = float(renewal.lease_seconds)
            for turn_id in [*renewal.stop, *renewal.ended]:
                self.stop_local(turn_id)
