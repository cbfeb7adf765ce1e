"""Benchmark E: the API's memory while it exports one 200 MB conversation.

``GET /conversations/{id}/export`` streams the document one page of messages at a time
(``export_conversation_page``), so the API's resident memory should not grow with the
conversation: the goal is at most 50 MB above the idle process, for one export and for four at
once. The conversation is 2,000 messages of 100,000 characters (the default
``max_content_chars``), loaded in SQL; the client reads and discards the body in 64 kB pieces
while a sampler reads the API's ``VmRSS`` every 10 ms.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psycopg

from bench.api import Api
from bench.config import Config
from bench.report import Goal, Outcome, figure, line, section, verdict_line

__all__ = ["GOAL", "run"]

GOAL = Goal("<=", 50, " MB")
CONVERSATION = "bench-export"
MESSAGES = 2_000
CONTENT_CHARS = 100_000  # md5 text repeated: 32 characters x 3,125


def _load(url: str) -> int:
    """The conversation, replaced if a previous run left it; its JSON size in bytes."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select public.delete_conversation(%s) where exists ("
            " select 1 from public.ai_conversations where conversation_id = %s)",
            (CONVERSATION, CONVERSATION),
        )
        conn.execute("select public.create_conversation(%s)", (CONVERSATION,))
        conn.execute(
            "insert into public.ai_conversation_messages (conversation_id, role, content)"
            " select %s, 'user', repeat(md5(i::text), %s) from generate_series(1, %s) i",
            (CONVERSATION, CONTENT_CHARS // 32, MESSAGES),
        )
        row = conn.execute(
            "select sum(octet_length(content))::bigint from public.ai_conversation_messages"
            " where conversation_id = %s",
            (CONVERSATION,),
        ).fetchone()
    return int(row[0]) if row and row[0] else 0


def _download(base: str) -> int:
    received = 0
    with urllib.request.urlopen(f"{base}/conversations/{CONVERSATION}/export", timeout=300) as answer:  # noqa: S310
        while chunk := answer.read(65536):
            received += len(chunk)
    return received


def _peak_during(api: Api, exports: int) -> tuple[float, int, float]:
    """The highest RSS while `exports` downloads run at once; bytes of each; seconds."""
    peak = api.rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, api.rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(exports) as pool:
            sizes = list(pool.map(lambda _: _download(api.base), range(exports)))
    finally:
        done.set()
        sampler.join()
    if len(set(sizes)) != 1:
        raise RuntimeError(f"the concurrent exports differ in size: {sizes}")
    return peak, sizes[0], time.monotonic() - started


def run(url: str, config: Config) -> list[Outcome]:
    section("E. API memory while exporting a 200 MB conversation (streamed, a page at a time)")
    content = _load(url)
    line(f"{MESSAGES:,} messages of {CONTENT_CHARS:,} characters: {content / 1e6:.0f} MB of content")
    api = Api(url)
    outcomes: list[Outcome] = []
    try:
        api.wait()
        _download(api.base)  # warm-up: imports, the pool's connections, prepared statements
        idle = api.rss_mb()
        figure("API RSS, idle after one export", f"{idle:.1f} MB")
        for exports in (1, 4):
            peak, size, seconds = _peak_during(api, exports)
            figure(
                f"{exports} export(s) at once",
                f"peak {peak:.1f} MB (+{peak - idle:.1f}), {size / 1e6:.0f} MB each in {seconds:.1f} s",
            )
            outcome = Outcome(
                name=f"E API RSS rise, {exports} x 200 MB export",
                figures=f"{idle:.0f} -> {peak:.0f} MB peak, {size / 1e6:.0f} MB body, {seconds:.1f} s",
                value=peak - idle,
                goal=GOAL,
                value_text=f"+{peak - idle:.1f} MB",
            )
            outcomes.append(outcome)
            verdict_line(outcome)
        figure("API RSS after the exports", f"{api.rss_mb():.1f} MB")
    finally:
        api.stop()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("select public.delete_conversation(%s)", (CONVERSATION,))
    return outcomes
