"""The page's SSE reader (app/web/js/sse.js) in Chromium, on streams the test writes: how it
cuts events, and how LiveFeed reconnects, resumes and drops what it has seen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

pytestmark = pytest.mark.browser

# `chunks` become one response body, delivered chunk by chunk.
READ = """async (chunks) => {
  const { readEvents } = await import("/js/sse.js");
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  const items = [];
  for await (const item of readEvents(body)) items.push(item);
  return items;
}"""

# Each connection answers the next of `connections` (a body, or a status to fail with);
# resolves with what LiveFeed delivered and the Last-Event-ID each connection sent.
FEED = """async (connections) => {
  const { LiveFeed } = await import("/js/sse.js");
  const sent = [];
  const delivered = [];
  return await new Promise((resolve) => {
    const feed = new LiveFeed({
      lastSeq: 1,
      open: async (lastSeq) => {
        sent.push(lastSeq);
        const next = connections.shift();
        if (next === undefined) return new Promise(() => {}); // the last one stays open
        if (typeof next === "number") throw Object.assign(new Error("refused"), { status: next });
        return new Response(next);
      },
      onMessage: (message) => delivered.push(message.seq),
      onEnd: (reason) => resolve({ sent, delivered, end: reason?.status ?? reason }),
    });
    feed.retryMs = 10; // as if the server had sent `retry: 10`
    feed.start();
    setTimeout(() => { feed.stop(); resolve({ sent, delivered, end: null }); }, 3000);
  });
}"""


def message(seq: int) -> str:
    return f'id: {seq}\nevent: message\ndata: {{"seq": {seq}, "content": "m{seq}"}}\n\n'


async def read(page: Page, *chunks: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await page.evaluate(READ, list(chunks))
    return items


async def test_events_are_cut_as_the_standard_says(page: Page) -> None:
    items = await read(
        page,
        "retry: 2000\n\n: heartbeat\n\n",
        "id: 7\nevent: delta\ndata: one\ndata:two\r",  # a \r\n split across two chunks
        "\n\r\ndata: {}\n\n",
        "event: done\ndata: last",  # no blank line: never dispatched
    )
    assert items == [
        {"type": "retry", "retry": 2000},
        {"type": "comment"},
        {"type": "event", "event": "delta", "data": "one\ntwo", "id": "7"},
        {"type": "event", "event": "message", "data": "{}", "id": "7"},  # the id carries over
    ]


async def test_the_feed_resumes_after_the_last_seq_and_drops_what_it_saw(page: Page) -> None:
    result = await page.evaluate(
        FEED,
        [
            message(2) + message(3),  # then the connection drops
            503,  # the API is down: retried
            message(3) + message(4) + "event: overflow\ndata: {}\n\n",  # 3 again: dropped
            message(5) + "event: gone\ndata: {}\n\n",
        ],
    )
    assert result == {"sent": [1, 3, 3, 4], "delivered": [2, 3, 4, 5], "end": "gone"}


async def test_the_feed_gives_up_on_a_conversation_that_is_not_there(page: Page) -> None:
    result = await page.evaluate(FEED, [message(2), 404])
    assert result == {"sent": [1, 2], "delivered": [2], "end": 404}
