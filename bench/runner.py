"""Runs every benchmark in the order that builds each data set once, and prints the summary.

``db`` (benchmarks 1-6, pgbench): the small data set (10k messages) serves the read
comparison, the 10k-message latency and the append comparison; then the tables are emptied and
the large one is loaded (1M conversations / 5M messages at scale 1, 100k of the conversations
expired holding 1M of the messages), which serves the 5M-message latency, the statistics and,
last because it deletes, the cleanup.

``http`` (benchmark 7): the tables are emptied again (so it starts from the same state whether
``db`` ran or not), it loads its own conversations and serves the API against the cluster.
``chat`` adds its own conversations and serves the API once more; ``openai`` reuses them
through the /v1 API and the openai SDK. ``transport`` (not run by
default) runs ``bench.store_transport`` on the cluster. ``realtime`` needs a cluster of its own
(commit timestamps on, a restart): it runs last, as ``python -m bench.realtime``, after the
bench cluster is gone, and hands its outcomes back through a file. ``BENCH_ONLY`` picks a
subset (see ``bench.config``). One summary table holds every outcome.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import (
    append,
    broadcast,
    cleanup,
    counters,
    data,
    export,
    http,
    organise,
    pgbench,
    read,
    scale,
    stats,
)
from bench.cluster import ROOT, BenchCluster
from bench.config import Config
from bench.pgbench import Run
from bench.report import OUTCOMES_ENV, Goal, Outcome, line, read_outcomes, section, summary

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
    _title()
    line(f"server: {version[0] if version else '?'}")
    line(f"settings: {settings[0] if settings else '?'}")
    line(f"client: {pgbench_version}")
    line(f"cluster: throwaway, 127.0.0.1:{cluster.port}, built from supabase/migrations for this run")
    line(config.describe())


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _title() -> None:
    print(f"supabase-conversations benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    line(f"cores: {os.cpu_count()}; load average (1, 5, 15 min): {_load_average()}")


def _guarded(name: str, goal: Goal | None, step: Callable[[], list[Outcome]]) -> list[Outcome]:
    """A failing benchmark is reported and the others still run."""
    try:
        return step()
    except (pgbench.PgbenchError, psycopg.Error, RuntimeError, OSError) as exc:
        line(f"ERROR: {exc}")
        return [Outcome.failed(name, goal, str(exc))]


def _foreign(name: str, step: Callable[[], list[Outcome]]) -> list[Outcome]:
    """A benchmark module of its own (chat): any exception is reported, the run goes on."""
    try:
        return step()
    except Exception as exc:  # whatever it raises, the other results stand
        line(f"ERROR: {type(exc).__name__}: {exc}")
        for text in traceback.format_exc().strip().splitlines()[-6:]:
            line(f"  {text}")
        return [Outcome.failed(name, None, f"{type(exc).__name__}: {exc}")]


def _load(url: str, groups: list[data.Group]) -> tuple[int, int]:
    seconds = data.load(url, groups)
    conversations, messages = data.totals(url)
    parts = ", ".join(f"{g.count:,} {g.name} x {g.messages}" for g in groups)
    line(f"data: {conversations:,} conversations, {messages:,} messages ({parts}) loaded in {seconds:.1f} s")
    return conversations, messages


def _scaled(value: int, config: Config) -> int:
    return max(1, round(value * config.scale))


def run_db(url: str, config: Config, drifts: list[counters.Drift]) -> list[Outcome]:
    """Benchmarks 1-5 (pgbench) on the small and the large data set; adds to ``drifts``."""
    outcomes: list[Outcome] = []
    layout = data.Layout()

    section("small data set")
    small = layout.group("read", 10_000 // MESSAGES_PER_CONVERSATION, MESSAGES_PER_CONVERSATION)
    appended = layout.group("append", 1_000, 0)
    _, small_messages = _load(url, [small, appended])

    outcomes += _guarded("2 read", read.GOAL, lambda: read.run(url, config, small))
    small_latency: Run | None = None
    try:
        small_latency, small_window = scale.measure(url, config, small, small_messages)
        outcomes.append(scale.window(small_latency, small_window, small_messages, large=False))
    except (pgbench.PgbenchError, psycopg.Error) as exc:
        line(f"ERROR: {exc}")
    outcomes += _guarded("1 append", append.GOAL, lambda: append.run(url, config, appended))
    drifts.append(counters.check(url, "appends"))

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
        large_latency, large_window = scale.measure(url, config, live, messages)
        window = scale.window(large_latency, large_window, messages, large=True)
        if small_latency is None:
            raise RuntimeError("no 10k-message figure to compare with")
        return [scale.finish(small_latency, small_messages, large_latency, messages), window]

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
    return sorted(outcomes, key=lambda o: o.name)


def run_http(url: str, config: Config, drifts: list[counters.Drift]) -> list[Outcome]:
    """Benchmark 7 from empty tables (the same start with or without ``db`` before it)."""
    data.truncate(url)
    outcomes = _guarded("7 http", http.APPEND_GOAL, lambda: http.run(url, config, data.Layout()))
    try:
        drifts.append(counters.check(url, "http"))
    except psycopg.Error as exc:
        line(f"ERROR: {exc}")
    return outcomes


def run_chat(url: str, config: Config) -> list[Outcome]:
    def step() -> list[Outcome]:
        from bench import chat  # imported late: a broken module costs its own results only

        outcomes: list[Outcome] = chat.run(url, config)
        return outcomes

    return _foreign("chat", step)


def run_openai(url: str, config: Config) -> list[Outcome]:
    def step() -> list[Outcome]:
        from bench import openai_api

        outcomes: list[Outcome] = openai_api.run(url, config)
        return outcomes

    return _foreign("openai", step)


def run_durable(url: str, config: Config) -> list[Outcome]:
    def step() -> list[Outcome]:
        from bench import durable

        outcomes: list[Outcome] = durable.run(url, config)
        return outcomes

    return _foreign("durable", step)


# The last table of bench.store_transport: variant, calls/s, ratio, client and server us/call.
_TRANSPORT_ROW = re.compile(r"^  (?P<name>\S.*?)\s+(?P<rate>\d+)\s+(?P<ratio>[\d.]+)\s+\d+\s+(?:\d+|n/a)$")


def run_transport(url: str, config: Config) -> list[Outcome]:
    """``python -m bench.store_transport`` on the bench cluster; its ratios as info lines."""
    section("T. the Postgres transport's variants, in-process (bench.store_transport)")
    seconds, rounds = ("1", "2") if config.quick else ("3", "5")
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "bench.store_transport", "--seconds", seconds, "--rounds", rounds],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for text in done.stdout.strip().splitlines():
        line(text)
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or ["failed"])[-1]
        line(f"ERROR: bench.store_transport exited {done.returncode}: {error}")
        return [Outcome.failed("T transport", None, error)]
    rows = [m for m in map(_TRANSPORT_ROW.match, done.stdout.splitlines()) if m]
    return [
        Outcome(
            name=f"T {m['name']}"[:48],
            figures=f"{int(m['rate']):,} calls/s, 16 tasks",
            value=float(m["ratio"]),
            goal=None,
            value_text=f"{float(m['ratio']):.2f} of bare",
        )
        for m in rows
    ]


def run_realtime() -> list[Outcome]:
    """``python -m bench.realtime`` (its own cluster); its outcomes come back through a file."""
    section("realtime (python -m bench.realtime, on a cluster of its own)")
    with tempfile.TemporaryDirectory(prefix="bench-rt-") as tmp:
        target = Path(tmp) / "outcomes.json"
        env = {**os.environ, OUTCOMES_ENV: str(target)}
        sys.stdout.flush()
        done = subprocess.run([sys.executable, "-m", "bench.realtime"], cwd=ROOT, env=env, check=False)
        if not target.exists():
            return [Outcome.failed("rt", None, f"bench.realtime exited {done.returncode} without results")]
        return read_outcomes(target)


def main() -> int:
    """Builds the bench cluster, runs everything, prints the summary; exit 1 only on errors."""
    try:
        config = Config.from_env()
    except ValueError as exc:
        print(exc)
        return 2
    if config.only & {"db", "transport"} and shutil.which("pgbench") is None:
        print("pgbench not found: install postgresql-client-15 (make deps)")
        return 1
    started = time.monotonic()
    load_before = _load_average()
    outcomes: list[Outcome] = []
    if config.only - {"realtime"}:
        cluster = BenchCluster(config.port)
        print(f"starting the bench cluster on port {config.port} ...", flush=True)
        try:
            url = cluster.start()
            _header(url, config, cluster)
            drifts: list[counters.Drift] = []
            db = run_db(url, config, drifts) if config.selected("db") else []
            if config.selected("organise"):
                db += _guarded("O organise", organise.SEARCH_GOAL, lambda: organise.run(url, config))
            if config.selected("broadcast"):
                db += _guarded("B broadcast", broadcast.GOAL, lambda: broadcast.run(url, config))
            served = run_http(url, config, drifts) if config.selected("http") else []
            # The counters' check covers both: it goes with the database's outcomes.
            outcomes += db + ([counters.outcome(drifts)] if drifts else []) + served
            if config.selected("export"):
                outcomes += _guarded("E export", export.GOAL, lambda: export.run(url, config))
            if config.selected("chat"):
                outcomes += run_chat(url, config)
            if config.selected("openai"):
                outcomes += run_openai(url, config)
            if config.selected("durable"):
                outcomes += run_durable(url, config)
            if config.selected("transport"):
                outcomes += run_transport(url, config)
        finally:
            if config.keep:
                print(f"\nBENCH_KEEP: the bench cluster stays up on port {config.port}")
            else:
                cluster.stop(wipe=True)
    else:
        _title()
        line(config.describe())
    if config.selected("realtime"):
        outcomes += run_realtime()
    summary(
        outcomes,
        title=f"summary: {os.cpu_count()} cores; load average at the start {load_before}, "
        f"at the end {_load_average()}",
    )
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 1 if any(o.verdict == "ERROR" for o in outcomes) else 0
