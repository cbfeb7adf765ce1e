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
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from app.store.errors import BusyError

__all__ = ["Lanes"]


class _Lane:
    __slots__ = ("running", "waiters")

    def __init__(self) -> None:
        self.running = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


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

    @asynccontextmanager
    async def lane(self, key: Hashable) -> AsyncIterator[None]:
        """Runs the block in `key`'s lane; raises BusyError when a call ahead found it locked."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        if lane.running < self.width:
            lane.running += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            lane.waiters.append(waiter)
            try:
                await waiter  # a finishing call hands its slot over (running stays counted)
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._release(key, lane)  # handed a slot, then cancelled: pass it on
                elif not waiter.done():
                    lane.waiters.remove(waiter)
                    self._forget(key, lane)
                raise
        try:
            yield
        except BusyError as exc:
            while lane.waiters:
                waiter = lane.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(BusyError(exc.message, details=exc.details, sqlstate=exc.sqlstate))
            raise
        finally:
            self._release(key, lane)

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
