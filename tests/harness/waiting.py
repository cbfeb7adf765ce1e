"""Waiting for state no event announces: a condition polled until it holds, within a
deadline (the test fails with TimeoutError rather than hangs, and never waits longer than
the condition takes). Where something can be awaited (an asyncio.Event, a task, a log line,
a response), await that instead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "until"]


async def until(condition: Callable[[], object], within: float = 10.0, poll: float = 0.01) -> None:
    """Waits for a condition on state the test does not own (counters of a feed, a server)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polling someone else's state, no event to wait on
            await asyncio.sleep(poll)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0, poll: float = 0.05) -> None:
    """Like until(), for a condition that needs I/O to check (a query, a request)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - polling the database, no event to wait on
            await asyncio.sleep(poll)
