"""The feed interface: where the hub learns that a message was committed.

A feed keeps one connection (a replication stream, or one Realtime websocket) for the whole API
process, however many subscribers there are. It promises little on purpose: events arrive
in commit order while it is connected, and after every (re)connection it calls
`feed_resumed()`, from which point nothing is missed. What happened while it was away, the
hub reads from the database by sequence number. So a feed never has to be lossless, only
honest about when it may have lost something.

`SupervisedFeed` is the shared reconnect loop: one connection session at a time, backoff with
jitter between sessions, never giving up until stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Protocol
from uuid import UUID

from app.realtime.backoff import Backoff
from app.realtime.events import FeedEvent, TurnEventsRow

__all__ = ["Feed", "FeedSink", "SupervisedFeed", "TurnFeedSink"]

log = logging.getLogger("app.realtime")


class FeedSink(Protocol):
    """Receives what a feed sees. Both methods are called on the event loop and must not block."""

    def feed_event(self, event: FeedEvent) -> None:
        """A message was committed (events of one conversation arrive in seq order)."""

    def feed_resumed(self) -> None:
        """The feed is (again) listening: anything committed before may have been missed."""

    def feed_deleted(self, rows: Iterable[tuple[UUID, str | None]]) -> None:
        """Conversation rows were deleted, as (row id, conversation id or None), reported in
        commit order with the messages."""

    def feed_changed(self, conversation_id: str) -> None:
        """Something other than a new message changed the conversation (messages deleted, a
        clear): whoever watches it should read it again. Feeds that cannot tell need not call it."""

    def watching(self, conversation_id: str) -> bool:
        """Whether anyone subscribes to the conversation: a feed may skip decoding the
        message of one nobody watches (most of them, on a busy database)."""


class TurnFeedSink(Protocol):
    """Receives what a feed sees of turns (app.turns.streams): the batches of their streams and
    the stops asked for. Called on the event loop; must not block."""

    def feed_turn_events(self, row: TurnEventsRow) -> None:
        """A batch of a turn's stream was committed (batches of one turn arrive in seq order)."""

    def feed_turn_stop(self, turn_id: UUID) -> None:
        """A stop of the turn was asked for (public.stop_turn)."""

    def feed_resumed(self) -> None:
        """The feed is (again) listening: anything committed before may have been missed."""

    def watching_turn(self, turn_id: UUID) -> bool:
        """Whether this process reads the turn's stream (the feed skips decoding the others)."""


class Feed(Protocol):
    """A source of FeedEvents, started and stopped with the application."""

    name: str
    sessions: int  # connections that reached "listening": 1 + the reconnects
    carries_turns: bool  # turn streams' batches and stops (else the turn streams poll)

    @property
    def connected(self) -> bool: ...

    async def start(self, sink: FeedSink) -> None:
        """Begin connecting in the background; returns at once (the database may be down)."""

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""

    async def wait_connected(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """True once listening (within `timeout` seconds), False otherwise."""


class SupervisedFeed(ABC):
    """Runs `_session()` again and again until stop(), with backoff between failures."""

    name = "feed"
    # Whether it carries turn streams (the batches of public.ai_turn_events and stop requests);
    # without, the turn streams read by polling.
    carries_turns = False

    def __init__(self, backoff: Backoff | None = None) -> None:
        self._backoff = backoff or Backoff()
        self._sink: FeedSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._stopping = False
        self.sessions = 0  # connections that reached "listening", for tests and metrics

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, sink: FeedSink) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self.name} feed already started")
        self._sink = sink
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name=f"realtime-{self.name}-feed")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._connected.clear()

    async def wait_connected(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _listening(self) -> None:
        """Sessions call this once they receive events: the hub then catches up."""
        self.sessions += 1
        self._backoff.reset()
        self._connected.set()
        log.info("%s feed listening (session %d)", self.name, self.sessions)
        if self._sink is not None:
            self._sink.feed_resumed()

    def _emit(self, event: FeedEvent) -> None:
        if self._sink is not None:
            self._sink.feed_event(event)

    def _emit_deleted(self, rows: Iterable[tuple[UUID, str | None]]) -> None:
        if self._sink is not None:
            self._sink.feed_deleted(rows)

    def _emit_turn_events(self, row: TurnEventsRow) -> None:
        turns = self._turns()
        if turns is not None:
            turns.feed_turn_events(row)

    def _emit_turn_stop(self, turn_id: UUID) -> None:
        turns = self._turns()
        if turns is not None:
            turns.feed_turn_stop(turn_id)

    def _watched_turn(self, turn_id: UUID) -> bool:
        turns = self._turns()
        return turns is not None and turns.watching_turn(turn_id)

    def _turns(self) -> TurnFeedSink | None:
        """The sink's turn streams, when it has them (the hub, once the app attached them)."""
        turns: TurnFeedSink | None = getattr(self._sink, "turns", None)
        return turns

    def _watched(self, conversation_id: str) -> bool:
        return self._sink is not None and self._sink.watching(conversation_id)

    async def _supervise(self) -> None:
        while not self._stopping:
            try:
                await self._session()
                reason = "session ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure means: reconnect later
                reason = f"{type(exc).__name__}: {exc}".strip()
            finally:
                was_connected = self._connected.is_set()
                self._connected.clear()
            if self._stopping:
                break
            delay = self._backoff.next()
            level = logging.WARNING if was_connected or self._backoff.attempts <= 1 else logging.DEBUG
            log.log(level, "%s feed disconnected (%s); reconnecting in %.2f s", self.name, reason, delay)
            await asyncio.sleep(delay)

    @abstractmethod
    async def _session(self) -> None:
        """Connect, call `_listening()` once events flow, deliver them with `_emit()`, and
        return or raise when the connection is lost."""
