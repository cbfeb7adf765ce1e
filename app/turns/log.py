"""TurnLog: a turn's stream as one process knows it, read by any number of subscribers.

A turn's stream is finite and small (a reply's deltas, the tools it ran, one last event), so a
process keeps it whole, once per turn, however many read it: entries `(seq, event)` in seq order,
from the start (seq 0) to the last event. A subscriber is only a position in it: `read(after)`
yields every entry with a seq above `after`, waits for more, and ends after the last event. No
subscriber has a queue of its own, so none can overflow: a slow reader merely lags.

The last event ends every read, whatever its position: a reader positioned at or beyond it (it
resumed with a position from a turn that was retried, or after the stream's events were pruned)
still gets it, never silence.

Entries are appended in seq order by one writer: the turn's runner on the instance generating it
(app.turns.runner), or the turn's reader of the database elsewhere (app.turns.streams).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator
from uuid import UUID

from app.turns.events import TERMINAL, StreamEvent

__all__ = ["TurnLog"]


class TurnLog:
    """The entries of one turn's stream (see the module docstring)."""

    __slots__ = ("_seqs", "_waiters", "entries", "turn_id")

    def __init__(self, turn_id: UUID | None) -> None:
        self.turn_id = turn_id
        self.entries: list[tuple[int, StreamEvent]] = []
        self._seqs: list[int] = []
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def head(self) -> int:
        """The seq of the last entry (-1 before the start)."""
        return self._seqs[-1] if self._seqs else -1

    @property
    def ended(self) -> bool:
        return bool(self.entries) and isinstance(self.entries[-1][1], TERMINAL)

    @property
    def last(self) -> StreamEvent | None:
        return self.entries[-1][1] if self.entries else None

    def append(self, seq: int, event: StreamEvent) -> bool:
        """Adds an entry after the last (False, ignored: not after it, or the log has ended)."""
        if self.ended or seq <= self.head:
            return False
        self.entries.append((seq, event))
        self._seqs.append(seq)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return True

    async def read(self, after: int | None = None) -> AsyncIterator[tuple[int, StreamEvent]]:
        """The entries with seq > `after` (None: from the start), as they come, then the last."""
        index = 0 if after is None else bisect.bisect_right(self._seqs, after)
        while True:
            while index < len(self.entries):
                seq, event = self.entries[index]
                index += 1
                terminal = isinstance(event, TERMINAL)
                if after is not None and seq <= after and not terminal:
                    continue  # appended after the read began, at or before its position
                yield seq, event
                if terminal:
                    return
            if self.ended:  # positioned beyond the end: the end still
                yield self.entries[-1]
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
