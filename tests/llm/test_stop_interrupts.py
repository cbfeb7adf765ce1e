"""A stop ends the model call the turn awaits, and only that: one waiter per call, no task per item.

The engine awaits the model's items directly and a stop cancels the turn's task only while it is
inside that await (app.turns.engine._Interrupter): a stop reaches a model that is silent (a stream
between two items, a completion not come yet), a cancellation from elsewhere (shutdown) stays a
cancellation, and a stop set while the turn awaits something else (a store call) leaves that await
alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.turns.engine import _stoppable, _Stopped, _unless_stopped

__all__: list[str] = []


async def test_a_stop_between_two_items_ends_the_stream_and_closes_the_model() -> None:
    stop, silent, closed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def model() -> AsyncIterator[str]:
        try:
            yield "first"
            await silent.wait()  # never set: a model that says nothing more
            yield "never"
        finally:
            closed.set()

    got: list[str] = []

    async def read() -> None:
        async for item in _stoppable(model(), stop):
            got.append(item)
            asyncio.get_running_loop().call_soon(stop.set)

    with pytest.raises(_Stopped):
        await asyncio.wait_for(read(), 5)
    assert got == ["first"]
    assert closed.is_set()  # the pending item was cancelled inside the model


async def test_ready_items_are_read_without_a_stop() -> None:
    async def model() -> AsyncIterator[int]:
        for i in range(100):
            yield i

    assert [i async for i in _stoppable(model(), asyncio.Event())] == list(range(100))


async def test_a_stop_ends_a_completion_that_has_not_come() -> None:
    stop, cancelled = asyncio.Event(), asyncio.Event()

    async def complete() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    asyncio.get_running_loop().call_later(0.01, stop.set)
    with pytest.raises(_Stopped):
        await asyncio.wait_for(_unless_stopped(complete(), stop), 5)
    assert cancelled.is_set()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_stop_set_before_the_call_sends_nothing() -> None:
    stop = asyncio.Event()
    stop.set()
    called = False

    async def complete() -> str:
        nonlocal called
        called = True
        return "answer"

    with pytest.raises(_Stopped):
        await _unless_stopped(complete(), stop)
    assert not called


async def test_a_cancellation_from_elsewhere_stays_one_even_with_a_stop() -> None:
    stop, started = asyncio.Event(), asyncio.Event()

    async def complete() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(_unless_stopped(complete(), stop))
    await started.wait()
    task.cancel()  # shutdown
    stop.set()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_stop_leaves_the_turns_other_awaits_alone() -> None:
    stop, store_call = asyncio.Event(), asyncio.Event()

    async def model() -> AsyncIterator[str]:
        yield "one"
        yield "two"

    got: list[str] = []
    async for item in _stoppable(model(), stop):
        got.append(item)
        if item == "one":
            # The turn awaits something else (a tool's result stored) when the stop comes.
            asyncio.get_running_loop().call_soon(stop.set)
            asyncio.get_running_loop().call_later(0.01, store_call.set)
            await store_call.wait()  # not cancelled by the stop
            break
    assert got == ["one"]
    assert store_call.is_set()


async def test_a_model_that_swallows_the_cancellation_is_stopped_all_the_same() -> None:
    stop, started = asyncio.Event(), asyncio.Event()

    async def complete() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "late answer"  # a client library that turns a cancellation into an answer
        return "never"

    async def turn() -> str:
        return await _unless_stopped(complete(), stop)

    task = asyncio.create_task(turn())
    await started.wait()
    stop.set()
    with pytest.raises(_Stopped):
        await task
    assert task.cancelling() == 0  # nothing left to cancel a later await of the turn
