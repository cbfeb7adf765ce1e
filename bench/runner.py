"""Runs every benchmark in the order that builds each data set once, and prints the summary.

Order: the small data set (10k messages) serves the read comparison, the 10k-message latency
and the append comparison; then the tables are emptied and the large one is loaded
(1M conversations / 5M messages at scale 1, 100k of the conversations expired holding 1M of
the messages), which serves the 5M-message latency, the statistics and, last because it
deletes, the cleanup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from bench import append, cleanup, counters, data, pgbench, read, scale, stats
from bench.cluster import BenchCluster
from bench.config import Config
from bench.pgbench import Run
from bench.report import Goal, Outcome, line, section, summary

__all__ = ["main"]

# Sizes of the large data set at scale 1, from the issue.
CONVERSATIONS = 1_000_000
MESSAGES = 5_000_000
EXPIRED_CONVERSATIONS = 100_000
EXPIRED_MESSAGES = 1_000_000
MESSAGES_PER_CONVERSATION = 50  # what both latency measurements read from


def _header(url: str, config: Config, cluster: BenchCluster) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("select version()").fetchone()
        settings = conn.execute(
            "select string_agg(name || '=' || current_setting(name), ', ' order by name)"
            "  from pg_settings where name in ('shared_buffers', 'synchronous_commit', 'max_wal_size',"
            " 'wal_level', 'fsync', 'max_connections')"
        ).fetchone()
        # The hourly cleanup job would delete the expired rows benchmark 4 needs, at a random moment.
        conn.execute(
            "select cron.alter_job(jobid, active := false) from cron.job"
            " where jobname = 'cleanup-expired-conversations'"
        )
    pgbench_version = subprocess.run(
        ["pgbench", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"supabase-conversations benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    line(f"cores: {os.cpu_count()}")
    line(f"server: {version[0] if version else '?'}")
    line(f"settings: {settings[0] if settings else '?'}")
    line(f"client: {pgbench_version}")
    line(f"cluster: throwaway, 127.0.0.1:{cluster.port}, built from supabase/migrations for this run")
    line(config.describe())


def _guarded(name: str, goal: Goal | None, step: Callable[[], list[Outcome]]) -> list[Outcome]:
    """A failing benchmark is reported and the others still run."""
    try:
        return step()
    except (pgbench.PgbenchError, psycopg.Error, RuntimeError) as exc:
        line(f"ERROR: {exc}")
        return [Outcome.failed(name, goal, str(exc))]


def _load(url: str, groups: list[data.Group]) -> tuple[int, int]:
    seconds = data.load(url, groups)
    conversations, messages = data.totals(url)
    parts = ", ".join(f"{g.count:,} {g.name} x {g.messages}" for g in groups)
    line(f"data: {conversations:,} conversations, {messages:,} messages ({parts}) loaded in {seconds:.1f} s")
    return conversations, messages


def _scaled(value: int, config: Config) -> int:
    return max(1, round(value * config.scale))


def run_all(url: str, config: Config) -> list[Outcome]:
    outcomes: list[Outcome] = []
    layout = data.Layout()

    section("small data set")
    small = layout.group("read", 10_000 // MESSAGES_PER_CONVERSATION, MESSAGES_PER_CONVERSATION)
    appended = layout.group("append", 1_000, 0)
    _, small_messages = _load(url, [small, appended])

    outcomes += _guarded("2 read", read.GOAL, lambda: read.run(url, config, small))
    small_latency: Run | None = None
    try:
        small_latency = scale.measure(url, config, small, small_messages)
    except (pgbench.PgbenchError, psycopg.Error) as exc:
        line(f"ERROR: {exc}")
    outcomes += _guarded("1 append", append.GOAL, lambda: append.run(url, config, appended))
    drifts = [counters.check(url, "appends")]

    section("large data set")
    data.truncate(url)
    expired = layout.group(
        "expired",
        _scaled(EXPIRED_CONVERSATIONS, config),
        EXPIRED_MESSAGES // EXPIRED_CONVERSATIONS,
        expired=True,
    )
    # Live until benchmark 4 lets them expire for the one-transaction cleanup function: three
    # batches' worth (at scale 1), enough to show what it holds from one batch to the next.
    later = layout.group("expire-later", max(1, expired.count * 3 // 100), expired.messages)
    live = layout.group(
        "live",
        _scaled(MESSAGES, config) // MESSAGES_PER_CONVERSATION
        - (expired.total_messages + later.total_messages) // MESSAGES_PER_CONVERSATION,
        MESSAGES_PER_CONVERSATION,
    )
    idle = layout.group("idle", _scaled(CONVERSATIONS, config) - expired.count - later.count - live.count, 0)
    conversations, messages = _load(url, [live, expired, later, idle])

    def scale_step() -> list[Outcome]:
        large_latency = scale.measure(url, config, live, messages)
        if small_latency is None:
            raise RuntimeError("no 10k-message figure to compare with")
        return [scale.finish(small_latency, small_messages, large_latency, messages)]

    outcomes += _guarded("3 read latency", scale.GOAL, scale_step)
    outcomes += _guarded(
        "5 stats", stats.GOAL, lambda: stats.run(url, config, conversations, messages, expired.count)
    )

    def cleanup_step() -> list[Outcome]:
        base = cleanup.baseline(url, config, live)
        found = cleanup.run(url, config, live, base, cleanup.JOB)
        drifts.append(counters.check(url, "job"))
        postponed = cleanup.postpone(url)
        if postponed:
            line(f"{postponed:,} conversations the job left expired: postponed by a day")
        cleanup.expire(url, later)
        found += cleanup.run(url, config, live, base, cleanup.FUNCTION)
        drifts.append(counters.check(url, "function"))
        return found

    outcomes += _guarded("4 cleanup", cleanup.GOAL, cleanup_step)
    outcomes.append(counters.outcome(drifts))
    return sorted(outcomes, key=lambda o: o.name)


def main() -> int:
    """Builds the bench cluster, runs everything, prints the summary; exit 1 only on errors."""
    if shutil.which("pgbench") is None:
        print("pgbench not found: install postgresql-client-15 (make deps)")
        return 1
    config = Config.from_env()
    cluster = BenchCluster(config.port)
    started = time.monotonic()
    print(f"starting the bench cluster on port {config.port} ...", flush=True)
    try:
        url = cluster.start()
        _header(url, config, cluster)
        outcomes = run_all(url, config)
    finally:
        if config.keep:
            print(f"\nBENCH_KEEP: the bench cluster stays up on port {config.port}")
        else:
            cluster.stop(wipe=True)
    summary(outcomes)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 1 if any(o.verdict == "ERROR" for o in outcomes) else 0
