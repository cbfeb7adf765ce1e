"""Per-conversation lanes: how many calls of one conversation may hold a pooled connection.

Calls of one conversation serialize on its row lock anyway (appends lock it), so letting more
than a few of them hold a connection buys nothing and risks everything: when another
transaction holds that lock, every call waiting on it holds a connection for the role's
lock_timeout, and a burst of them empties the pool for every other conversation. A lane lets
`width` calls of a conversation run at once and queues the rest in the process, holding
nothing. When a call finds the conversation locked (BusyError, after lock_timeout), the calls
queued behind it at that moment fail with the same error at once instead of each waiting for
the lock again: the conversation is busy for all of them.

A lane is keyed by whoever calls and the conversation (PostgresTransport.lane_key), not by the
id alone: before the database has said whether a caller may touch a conversation, that caller
must not take a slot of the owner's lane, nor fail with the owner's BusyError. A user naming
another's conversation id queues only behind its own calls (and gets its 404 at once).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from types import TracebackType

from app.store.errors import BusyError

__all__ = ["Lanes"]


class _Lane:
    __slots__ = ("running", "waiters")

    def __init__(self) -> None:
        self.running = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class _Slot:
    """One call's place in its lane, as an async context manager (a class: a generator-based
    one cost more than the lane's own bookkeeping, on every store call)."""

    __slots__ = ("key", "lane", "lanes")

    def __init__(self, lanes: Lanes, key: Hashable) -> None:
        self.lanes = lanes
        self.key = key
        self.lane: _Lane | None = None

    async def __aenter__(self) -> None:
        lanes, key = self.lanes, self.key
        lane = lanes._lanes.get(key)
        if lane is None:
            lane = lanes._lanes[key] = _Lane()
        if lane.running < lanes.width:
            lane.running += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            lane.waiters.append(waiter)
            try:
                await waiter  # a finishing call hands its slot over (running stays counted)
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    lanes._release(key, lane)  # handed a slot, then cancelled: pass it on
                elif not waiter.done():
                    lane.waiters.remove(waiter)
                    lanes._forget(key, lane)
                raise
        self.lane = lane

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        lane = self.lane
        assert lane is not None
        try:
            if isinstance(exc, BusyError):
                while lane.waiters:
                    waiter = lane.waiters.popleft()
                    if not waiter.done():
                        waiter.set_exception(
                            BusyError(exc.message, details=exc.details, sqlstate=exc.sqlstate)
                        )
        finally:
            self.lanes._release(self.key, lane)


class Lanes:
    """At most `width` calls per key at once; see the module docstring."""

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError("width must be at least 1")
        self.width = width
        self._lanes: dict[Hashable, _Lane] = {}

    @property
    def queued(self) -> int:
        """Calls waiting for their lane, across keys."""
        return sum(len(lane.waiters) for lane in self._lanes.values())

    def lane(self, key: Hashable) -> _Slot:
        """`async with lanes.lane(key):` runs the block in `key`'s lane; raises BusyError when a
        call ahead found it locked."""
        return _Slot(self, key)

    def _release(self, key: Hashable, lane: _Lane) -> None:
        while lane.waiters:
            waiter = lane.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        lane.running -= 1
        self._forget(key, lane)

    def _forget(self, key: Hashable, lane: _Lane) -> None:
        if lane.running == 0 and not lane.waiters and self._lanes.get(key) is lane:
            del self._lanes[key]
