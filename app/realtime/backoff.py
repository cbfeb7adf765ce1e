"""Exponential backoff with jitter, shared by the feeds' reconnect loops and the hub's retries.

Jitter matters here: after a database restart every API instance reconnects at once, and
without it they would all retry (and catch up) in lockstep.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays of initial, initial*factor, ... capped at maximum, each scaled by 1 +/- jitter."""

    __slots__ = ("_attempt", "factor", "initial", "jitter", "maximum")

    def __init__(
        self, initial: float = 0.2, maximum: float = 10.0, factor: float = 2.0, jitter: float = 0.2
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial <= maximum, factor >= 1, 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._attempt = 0

    def next(self) -> float:
        """The delay before the next attempt; each call backs off further."""
        delay = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return delay * (1 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        """After a success: the next failure starts from the initial delay again."""
        self._attempt = 0

    @property
    def attempts(self) -> int:
        return self._attempt
