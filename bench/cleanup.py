"""Benchmark 4: cleanup of expired conversations, and what it does to appends meanwhile.

Measured: messages removed per second, and the p99 latency of ``append_message()`` from
``config.clients`` clients while the cleanup runs, against the p99 of the same workload
without it (goal: at most twice). Two ways to clean up exist and both are measured:

- ``call private.cleanup_expired_conversations_job()``, what the hourly pg_cron job runs:
  batches of 1,000 conversations, each committed on its own (the main figure);
- ``select public.cleanup_expired_conversations()``, what an admin or the API calls: the same
  batches inside one transaction, on a few batches' worth, since it is the variant to watch
  for locks held until the end.

A cleanup still running after ``config.cleanup_cap`` seconds is cancelled, so a slow one
cannot stall the whole run: the job keeps the batches it committed and its rate is measured
on those; the function rolls back. Whatever the job left expired is then postponed by a day,
out of the way of the function's measurement.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg

from bench import pgbench
from bench.config import Config
from bench.data import Group
from bench.latency import percentile
from bench.pgbench import Run
from bench.report import Goal, Outcome, figure, fmt_ms, fmt_rate, line, section, verdict_line

__all__ = ["FUNCTION", "GOAL", "JOB", "Method", "baseline", "expire", "postpone", "run"]

GOAL = Goal("<=", 2)


@dataclass(frozen=True)
class Method:
    """A way to run the cleanup, and how the summary names it."""

    sql: str
    label: str
    letters: tuple[str, str]  # summary rows: rate, p99 ratio


JOB = Method("call private.cleanup_expired_conversations_job()", "cron job", ("a", "b"))
FUNCTION = Method("select public.cleanup_expired_conversations()", "function", ("c", "d"))


class _Cleanup(threading.Thread):
    """Runs the cleanup on its own connection and records its wall-clock window."""

    def __init__(self, url: str, method: Method) -> None:
        super().__init__(name="cleanup", daemon=True)
        self.url = url
        self.method = method
        self.started = self.ended = float("nan")
        self.cancelled = False
        self.error: BaseException | None = None
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._ready = threading.Event()

    def run(self) -> None:
        try:
            # autocommit: the procedure commits after each batch, which needs a top-level CALL.
            with psycopg.connect(self.url, autocommit=True) as conn:
                self._conn = conn
                self._ready.set()
                self.started = time.time()
                try:
                    conn.execute(self.method.sql)
                except psycopg.errors.QueryCanceled:
                    self.cancelled = True
                self.ended = time.time()
        except BaseException as exc:  # re-raised by the main thread
            self.error = exc
        finally:
            self._ready.set()

    def cancel(self) -> None:
        self._ready.wait()
        if self._conn is not None and self.is_alive():
            self._conn.cancel_safe()
        self.join()


def _expired(url: str) -> tuple[int, int]:
    """(conversations, messages) awaiting cleanup."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*), coalesce(sum(message_count), 0) from public.ai_conversations"
            " where expires_at <= now()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def expire(url: str, group: Group) -> None:
    """Lets a group of live conversations expire (within the last hour, like the loaded ones)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            update public.ai_conversations c
               set expires_at = now() - interval '1 second' - (g.n %% 3600) * interval '1 second'
              from generate_series(%s::bigint, %s::bigint) g(n)
             where c.conversation_id = 'conv-' || g.n
            """,
            (group.first, group.last),
        )


def postpone(url: str) -> int:
    """Gives whatever is still expired another day; returns how many conversations that was."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "update public.ai_conversations set expires_at = now() + interval '1 day'"
            " where expires_at <= now()"
        ).rowcount


def _appends(url: str, config: Config, live: Group, duration: float) -> Run:
    return pgbench.run(
        url,
        "append_function.sql",
        clients=config.clients,
        threads=config.threads,
        duration=duration,
        defines=live.defines(),
        log=True,
    )


def baseline(url: str, config: Config, live: Group) -> Run:
    """The append workload alone, with the expired conversations still waiting."""
    return _appends(url, config, live, config.duration)


def _appends_during_cleanup(url: str, config: Config, live: Group, method: Method) -> tuple[Run, _Cleanup]:
    """Appends for ``config.duration`` seconds with the cleanup started shortly after them,
    extended by short runs until the cleanup has finished or was cancelled at the cap."""
    pending = pgbench.start(
        url,
        "append_function.sql",
        clients=config.clients,
        threads=config.threads,
        duration=config.duration,
        defines=live.defines(),
        log=True,
    )
    time.sleep(min(2.0, config.duration / 3))  # let the clients connect and settle
    cleanup = _Cleanup(url, method)
    cleanup.start()
    deadline = time.time() + config.cleanup_cap
    runs = [pgbench.finish(pending)]
    while cleanup.is_alive():
        left = deadline - time.time()
        if left <= 1:
            cleanup.cancel()
            break
        runs.append(_appends(url, config, live, min(left, max(2.0, min(5.0, config.duration / 3)))))
    cleanup.join()
    if cleanup.error:
        raise cleanup.error
    return pgbench.combine(runs), cleanup


def run(url: str, config: Config, live: Group, base: Run, method: Method) -> list[Outcome]:
    conversations, messages = _expired(url)
    section(f"4. cleanup ({method.label}): {conversations:,} expired conversations, {messages:,} messages")
    line(f"{method.sql} while {config.clients} clients append to {live.count:,} live conversations")
    during, cleanup = _appends_during_cleanup(url, config, live, method)

    seconds = cleanup.ended - cleanup.started
    left_conversations, left_messages = _expired(url)
    removed = messages - left_messages
    stopped = f"cancelled after {seconds:.1f} s (cap {config.cleanup_cap:g} s)" if cleanup.cancelled else ""
    line(
        f"cleanup {stopped or f'took {seconds:.2f} s'}: {removed:,} messages and "
        f"{conversations - left_conversations:,} conversations removed, "
        f"{fmt_rate(removed / seconds, 'messages/s')}"
    )
    if cleanup.cancelled and removed:
        line(f"at that rate all {messages:,} would take {messages / (removed / seconds):,.0f} s")
    rate = Outcome(
        name=f"4{method.letters[0]} cleanup rate ({method.label})",
        figures=f"{removed:,} of {messages:,} messages in {seconds:.1f} s" + (" (cap)" if stopped else ""),
        value=removed / seconds,
        goal=None,
        value_text=fmt_rate(removed / seconds, "msg/s"),
    )
    base_p99 = percentile(base.latencies_us, 99)
    base_p50 = percentile(base.latencies_us, 50)
    figure(
        "append p99 without cleanup", f"{fmt_ms(base_p99)}  (p50 {fmt_ms(base_p50)}, {fmt_rate(base.tps)})"
    )

    name = f"4{method.letters[1]} append p99 during / without ({method.label})"
    window = during.latencies_between(cleanup.started, cleanup.ended)
    if not window:
        error = "no append overlapped the cleanup: too short to measure (raise BENCH_SCALE)"
        line(error)
        return [rate, Outcome.failed(name, GOAL, error)]
    during_p99 = percentile(window, 99)
    figure(
        "append p99 while the cleanup runs",
        f"{fmt_ms(during_p99)}  (p50 {fmt_ms(percentile(window, 50))}, "
        f"max {fmt_ms(max(window))}, {len(window):,} appends overlapped it)",
    )
    latency = Outcome(
        name=name,
        figures=f"{fmt_ms(during_p99)} vs {fmt_ms(base_p99)}",
        value=during_p99 / base_p99,
        goal=GOAL,
    )
    verdict_line(latency)
    return [rate, latency]
