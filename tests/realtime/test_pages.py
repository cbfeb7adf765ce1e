"""The one paging loop (app.realtime.source.Pages) that catch-ups and replays share."""

from __future__ import annotations

import pytest

from app.realtime import Backoff, Pages
from app.store.errors import NotFoundError
from app.store.models import Message
from tests.realtime.fakes import FakeSource

CID = "conv-pages"


@pytest.fixture
def source() -> FakeSource:
    source = FakeSource(page_size=3)
    source.create(CID)
    for _ in range(7):
        source.append(CID)
    return source


def _pages(source: FakeSource, after: int, upto: int, step: int = 3) -> Pages:
    async def read(a: int, b: int) -> tuple[list[Message], int]:
        window = await source.window(CID, a, b)
        return window.messages, window.last_seq

    return Pages(read, after, upto, step=step, backoff=Backoff(0.001, 0.002), what="test read")


async def test_reads_the_range_window_by_window(source: FakeSource) -> None:
    pages = [page async for page in _pages(source, 1, 7)]
    assert [(p.after, p.upto) for p in pages] == [(1, 4), (4, 7)]
    assert [m.seq for p in pages for m in p.messages] == [2, 3, 4, 5, 6, 7]
    assert {p.last for p in pages} == {7}


async def test_the_reader_moves_the_bounds_between_pages(source: FakeSource) -> None:
    pages = _pages(source, 0, 3)
    first = await anext(pages)
    assert (first.after, first.upto) == (0, 3)
    pages.after, pages.upto = 5, 7  # 4 and 5 came by other means; the end moved on
    second = await anext(pages)
    assert [m.seq for m in second.messages] == [6, 7]
    with pytest.raises(StopAsyncIteration):
        await anext(pages)


async def test_a_failed_read_is_retried_and_gone_is_raised(source: FakeSource) -> None:
    source.fail_next = 2
    reads = source.reads
    page = await anext(_pages(source, 0, 2))
    assert [m.seq for m in page.messages] == [1, 2]
    assert source.reads - reads == 3  # two failures, then the read
    source.delete(CID)
    with pytest.raises(NotFoundError):
        await anext(_pages(source, 0, 2))
