"""Realtime benchmarks: delivery latency, what the feed costs appends, subscriber memory.

``python -m bench.realtime`` (``BENCH_QUICK=1`` for a short run) on a throwaway cluster
(port ``BENCH_REALTIME_PORT``, default 54332) built from the migrations, with
``track_commit_timestamp = on`` so every latency is measured from a message's real commit
time (``pg_xact_commit_timestamp(xmin)``, or wal2json's commit timestamp) to its arrival, on
one clock.

1. memory: the hub's Python allocations (tracemalloc) and the process RSS for 500 idle
   subscribers over 100 conversations;
2. latency: pgbench appends at a fixed rate (200/s) to those 100 conversations while the 500
   subscribers consume, each turning every event into its SSE frame; p50/p99 of
   commit -> subscriber, and every message must reach all 5 of its subscribers. This is the
   hub-level figure; the SSE endpoint adds one HTTP write;
3. cost to appends, and the choice of the local feed: pgbench ``select
   public.append_message(...)`` at 16 clients over 1000 conversations, alternating in the
   same run between
   - off: no feed at all;
   - wal2json streamed: the feed the API uses (logical decoding over a replication
     connection, app.realtime.postgres_feed) with the hub and its 500 subscribers;
   - NOTIFY: an AFTER INSERT trigger calling pg_notify() (created here, in this throwaway
     database only) and one LISTEN connection consuming it;
   - wal2json polled: pg_logical_slot_get_changes() every 10 ms, what psycopg 3 offers
     without speaking the replication protocol;
   with the delivery latency each achieves under that load.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from app.config import DatabaseSettings
from app.db import create_pool
from app.realtime import Backoff, Hub, MessageEvent, PostgresFeed, StoreSource, Subscription
from app.store import ConversationManager
from app.store.postgres import PostgresTransport
from bench import pgbench, proc
from bench.cluster import ROOT, BenchCluster
from bench.latency import percentile
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, summary, verdict_line

__all__ = ["main"]

CONVERSATIONS = 100
SUBSCRIBERS = 500
RATE = 200
APPEND_CONVERSATIONS = 1000
THROUGHPUT_CLIENTS = int(os.environ.get("BENCH_REALTIME_CLIENTS") or 16)
LATENCY_CLIENTS = 16  # enough that a slow commit (fsync) never makes the rate fall behind
WAL_POLL_SECONDS = 0.01
SLOT = "bench_realtime"

P50_GOAL = Goal("<=", 10.0, " ms")
P99_GOAL = Goal("<=", 50.0, " ms")
RATIO_GOAL = Goal(">=", 0.9)

_TRIGGER = "alter table public.ai_conversation_messages {} trigger bench_notify"
# The LISTEN/NOTIFY alternative, as it would be deployed (payload <= 8000 bytes).
_NOTIFY = """
create function private.bench_notify() returns trigger language plpgsql set search_path = '' as $$
declare
  v_payload text := json_build_object(
    'conversation_id', new.conversation_id, 'seq', new.seq, 'message', row_to_json(new))::text;
begin
  if octet_length(v_payload) >= 8000 then
    v_payload := json_build_object('conversation_id', new.conversation_id, 'seq', new.seq)::text;
  end if;
  perform pg_catalog.pg_notify('ai_conversation_messages', v_payload);
  return null;
end
$$;
create trigger bench_notify after insert on public.ai_conversation_messages
  for each row execute function private.bench_notify();
alter table public.ai_conversation_messages disable trigger bench_notify;
"""
_COMMITS = """
select m.conversation_id, m.seq, extract(epoch from pg_xact_commit_timestamp(m.xmin))::float8
  from public.ai_conversation_messages m
 where m.conversation_id = any(%s)
"""
_WAL_CHANGES = """
select data from pg_logical_slot_get_changes(%s, null, null,
  'format-version', '2', 'include-timestamp', '1', 'include-transaction', 'false',
  'add-tables', 'public.ai_conversation_messages')
"""


class BenchError(RuntimeError):
    """A measurement could not be taken (pgbench failed, messages went missing)."""


@dataclass(frozen=True)
class Settings:
    quick: bool
    latency_seconds: float
    throughput_seconds: float
    rounds: int
    threads: int
    port: int
    keep: bool

    @classmethod
    def from_env(cls) -> Settings:
        quick = os.environ.get("BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
        return cls(
            quick=quick,
            latency_seconds=float(os.environ.get("BENCH_REALTIME_SECONDS") or (5 if quick else 30)),
            throughput_seconds=float(os.environ.get("BENCH_DURATION") or (2 if quick else 8)),
            rounds=int(os.environ.get("BENCH_ROUNDS") or (3 if quick else 5)),
            threads=int(os.environ.get("BENCH_THREADS") or 2),
            port=int(os.environ.get("BENCH_REALTIME_PORT") or 54332),
            keep=os.environ.get("BENCH_KEEP", "").strip().lower() in {"1", "true", "yes", "on"},
        )


@dataclass
class Receipts:
    """(conversation_id, seq, wall-clock arrival) of every event every subscriber took."""

    record: bool = True
    rows: list[tuple[str, int, float]] = field(default_factory=list)
    count: int = 0


def _stack(cluster: BenchCluster, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(STACK_PORT=str(cluster.port), STACK_NAME=cluster.name)
    done = subprocess.run(
        [str(ROOT / "scripts" / "stack.sh"), command], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"scripts/stack.sh {command} failed:\n{done.stderr.strip()}")


def _prepare(cluster: BenchCluster, url: str) -> None:
    """Commit timestamps on (a restart), and the conversations conv-1..conv-1000."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter system set track_commit_timestamp = on")
    _stack(cluster, "down")
    _stack(cluster, "up")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select public.create_conversation(p_conversation_id => 'conv-' || g, p_ttl_hours => 48)"
            "  from generate_series(1, %s) g",
            (APPEND_CONVERSATIONS,),
        )
        conn.execute(
            "select cron.alter_job(jobid, active := false) from cron.job"
            " where jobname = 'cleanup-expired-conversations'"
        )
        conn.execute(_NOTIFY)


def _server_cpu(pid: int | None) -> float:
    """CPU seconds of the local Postgres process serving a mode (backend or walsender); 0
    when it is not known."""
    return proc.process_cpu(pid) if pid is not None else 0.0


async def _consume(sub: Subscription, receipts: Receipts) -> None:
    """A subscriber as the SSE endpoint is: take each event, encode its frame the way
    Litestar's ServerSentEvent does (`event.sse.encode()`, shared by every subscriber)."""
    while True:
        event = await sub.get()
        if event is None:
            continue
        event.sse.encode()
        if not isinstance(event, MessageEvent):
            return
        receipts.count += 1
        if receipts.record:
            receipts.rows.append((event.conversation_id, event.seq, time.time()))


async def _commit_times(url: str, conversations: list[str]) -> dict[tuple[str, int], float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(_COMMITS, (conversations,))
        return {(cid, seq): ts for cid, seq, ts in await cur.fetchall() if ts is not None}


def _latencies_ms(
    receipts: Receipts, commits: dict[tuple[str, int], float], since: float
) -> tuple[list[float], set[tuple[str, int]]]:
    latencies: list[float] = []
    seen: set[tuple[str, int]] = set()
    for cid, seq, at in receipts.rows:
        committed = commits.get((cid, seq))
        if committed is not None and committed >= since:
            latencies.append((at - committed) * 1000)
            seen.add((cid, seq))
    return latencies, seen


# -- 1. memory ---------------------------------------------------------------------------
async def _memory(hub: Hub) -> tuple[list[Subscription], Outcome]:
    section(f"1. memory: {SUBSCRIBERS} idle subscribers over {CONVERSATIONS} conversations")
    gc.collect()
    rss_before = proc.rss_bytes() / 2**20
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    subs = [await hub.subscribe(f"conv-{1 + i % CONVERSATIONS}") for i in range(SUBSCRIBERS)]
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    rss_after = proc.rss_bytes() / 2**20
    figure(
        "hub allocations (tracemalloc)",
        f"{held / 1024:,.0f} KiB ({held / SUBSCRIBERS:,.0f} B per subscriber)",
    )
    figure("process RSS before / after", f"{rss_before:,.1f} MiB / {rss_after:,.1f} MiB")
    stats = hub.stats()
    figure("topics / subscribers", f"{stats.topics} / {stats.subscribers}")
    outcome = Outcome(
        name=f"rt memory, {SUBSCRIBERS} idle subscribers",
        figures=f"{held / 1024:,.0f} KiB hub, RSS {rss_after:,.0f} MiB",
        value=held / SUBSCRIBERS,
        goal=None,
        value_text=f"{held / SUBSCRIBERS:,.0f} B/sub",
    )
    verdict_line(outcome)
    return subs, outcome


# -- 2. latency --------------------------------------------------------------------------
_APPEND = (
    "select (public.append_message(%s, 'user', 'hello from the realtime benchmark')"
    " -> 'message' ->> 'seq')::bigint"
)


async def _appender(url: str, rate: float, seconds: float, conversations: int, clients: int) -> None:
    """`python -m bench.realtime appender ...`: appends at a fixed total rate from `clients`
    connections, each to a random conversation, and prints `cid seq sent returned` per append.
    A process of its own, so the hub's event loop measures only itself."""
    start = time.time() + 0.2
    lines: list[str] = []

    async def client(k: int) -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            due = start + k / rate
            while due < start + seconds:
                await asyncio.sleep(max(0.0, due - time.time()))
                cid = f"conv-{random.randint(1, conversations)}"
                sent = time.time()
                cur = await conn.execute(_APPEND, (cid,), prepare=True)
                row = await cur.fetchone()
                lines.append(f"{cid} {row[0] if row else -1} {sent:.6f} {time.time():.6f}")
                due += clients / rate

    await asyncio.gather(*(client(k) for k in range(clients)))
    print("\n".join(lines), flush=True)


async def _latency(url: str, hub: Hub, subs: list[Subscription], settings: Settings) -> list[Outcome]:
    section(f"2. latency: commit -> subscriber, {SUBSCRIBERS} subscribers, {RATE} appends/s")
    receipts = Receipts()
    consumers = [asyncio.create_task(_consume(s, receipts)) for s in subs]
    conversations = [f"conv-{i}" for i in range(1, CONVERSATIONS + 1)]
    since = time.time()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.realtime",
        "appender",
        url,
        str(RATE),
        str(settings.latency_seconds),
        str(CONVERSATIONS),
        str(LATENCY_CLIENTS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BenchError(f"the appender failed: {err.decode().strip()[-500:]}")
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = time.time() - since
    await asyncio.sleep(1.0)  # stragglers
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)

    returned: dict[tuple[str, int], tuple[float, float]] = {}
    for text in out.decode().splitlines():
        cid, seq, sent, back = text.split()
        returned[(cid, int(seq))] = (float(sent), float(back))
    commits = await _commit_times(url, conversations)
    from_commit_ts, seen = _latencies_ms(receipts, commits, since)
    from_return = [
        (at - returned[(cid, seq)][1]) * 1000 for cid, seq, at in receipts.rows if (cid, seq) in returned
    ]
    round_trips = [(back - sent) * 1000 for sent, back in returned.values()]
    expected = len(returned) * SUBSCRIBERS // CONVERSATIONS
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    figure(
        f"appended ({LATENCY_CLIENTS} connections, fixed rate)",
        f"{len(returned):,} messages, {len(returned) / elapsed:,.0f}/s",
    )
    figure("delivered to subscribers", f"{len(from_return):,} of {expected:,} expected")
    figure("hub process CPU", f"{100 * cpu / elapsed:.1f}% of one core")
    figure("append round trip p50 / p99 (incl. WAL flush)", _pcts(round_trips, (50, 99)))
    figure("commit done (append returned) -> subscriber", _pcts(from_return, (50, 95, 99, 100)))
    figure("commit timestamp -> subscriber (adds the flush)", _pcts(from_commit_ts, (50, 95, 99, 100)))
    if seen != set(returned) or len(from_return) != expected:
        raise BenchError(f"lost deliveries: {expected - len(from_return)} of {expected}")
    p50, p99 = percentile(from_return, 50), percentile(from_return, 99)
    outcomes = [
        Outcome(
            f"rt latency p50 ({SUBSCRIBERS} subs, {RATE}/s)",
            f"{len(from_return):,} deliveries",
            p50,
            P50_GOAL,
            f"{p50:.2f} ms",
        ),
        Outcome(
            f"rt latency p99 ({SUBSCRIBERS} subs, {RATE}/s)",
            f"from commit ts {percentile(from_commit_ts, 99):.1f} ms",
            p99,
            P99_GOAL,
            f"{p99:.2f} ms",
        ),
    ]
    for outcome in outcomes:
        verdict_line(outcome)
    return outcomes


def _pcts(values: Sequence[float], which: Sequence[int]) -> str:
    names = "/".join("max" if p == 100 else f"p{p}" for p in which)
    return f"{names} " + " / ".join(f"{percentile(values, p):.2f}" for p in which) + " ms"


# -- 3. cost to appends -------------------------------------------------------------------
@dataclass
class WalPoller:
    """The polled alternative: a wal2json slot read every WAL_POLL_SECONDS."""

    url: str
    latencies_ms: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    backend_pid: int | None = None

    async def start(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("select pg_create_logical_replication_slot(%s, 'wal2json')", (SLOT,))
        ready = asyncio.Event()
        self.task = asyncio.create_task(self._poll(ready))
        await ready.wait()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("select pg_drop_replication_slot(%s)", (SLOT,))

    async def _poll(self, ready: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            self.backend_pid = conn.info.backend_pid
            ready.set()
            while True:
                cur = await conn.execute(_WAL_CHANGES, (SLOT,))
                rows = await cur.fetchall()
                now = time.time()
                for (data,) in rows:
                    change = json.loads(data)
                    if change.get("action") == "I" and change.get("timestamp"):
                        committed = datetime.fromisoformat(change["timestamp"]).timestamp()
                        self.latencies_ms.append((now - committed) * 1000)
                await asyncio.sleep(WAL_POLL_SECONDS)


@dataclass
class NotifyListener:
    """The NOTIFY alternative's consumer: one LISTEN connection decoding every payload."""

    url: str
    receipts: Receipts = field(default_factory=Receipts)
    task: asyncio.Task[None] | None = None
    backend_pid: int | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self.task = asyncio.create_task(self._listen(ready))
        await ready.wait()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _listen(self, ready: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("listen ai_conversation_messages")
            self.backend_pid = conn.info.backend_pid
            ready.set()
            async for note in conn.notifies():
                body = json.loads(note.payload)
                self.receipts.rows.append((body["conversation_id"], body["seq"], time.time()))


async def _quiet(hub: Hub, within: float = 30.0) -> None:
    """Waits until the hub has stopped reading the database (its catch-up is over)."""
    deadline = time.monotonic() + within
    reads = -1
    while reads != hub.catch_up_reads and time.monotonic() < deadline:
        reads = hub.catch_up_reads
        await asyncio.sleep(0.3)


async def _set_trigger(url: str, enabled: bool) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(_TRIGGER.format("enable" if enabled else "disable"))


MODES = ("off", "wal2json streamed", "NOTIFY", "wal2json polled")


async def _throughput(url: str, hub: Hub, subs: list[Subscription], settings: Settings) -> list[Outcome]:
    section(f"3. append cost at {THROUGHPUT_CLIENTS} clients: no feed / wal2json streamed / NOTIFY / polled")
    line(
        f"public.append_message() on {APPEND_CONVERSATIONS} conversations, -M prepared, "
        f"{settings.rounds} alternating rounds of {settings.throughput_seconds:g} s per mode"
    )
    feed = hub.feed
    if feed is None:
        raise BenchError("the hub has no feed")
    receipts = Receipts()
    consumers = [asyncio.create_task(_consume(s, receipts)) for s in subs]
    runs: dict[str, list[pgbench.Run]] = {mode: [] for mode in MODES}
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    # CPU seconds of this process (hub, consumers) and of the feed's server process.
    cpu: dict[str, list[float]] = {mode: [0.0, 0.0] for mode in MODES}
    conversations = [f"conv-{i}" for i in range(1, APPEND_CONVERSATIONS + 1)]
    try:
        for _ in range(settings.rounds):
            for mode in MODES:
                await feed.stop()
                await _set_trigger(url, mode == "NOTIFY")
                poller = WalPoller(url) if mode == "wal2json polled" else None
                listener = NotifyListener(url) if mode == "NOTIFY" else None
                if mode == "wal2json streamed":
                    await feed.start(hub)
                    if not await feed.wait_connected(30):
                        raise BenchError("the feed did not reconnect")
                    await _quiet(hub)  # the hub's catch-up after the reconnect is not measured
                for helper in (poller, listener):
                    if helper is not None:
                        await helper.start()
                receipts.rows.clear()
                since = time.time()
                server_pid = (
                    getattr(feed, "backend_pid", None)
                    if mode == "wal2json streamed"
                    else poller.backend_pid
                    if poller is not None
                    else listener.backend_pid
                    if listener is not None
                    else None
                )
                own_before, server_before = proc.own_cpu(), _server_cpu(server_pid)
                try:
                    run = await asyncio.to_thread(
                        pgbench.run,
                        url,
                        "append_function.sql",
                        clients=THROUGHPUT_CLIENTS,
                        threads=settings.threads,
                        duration=settings.throughput_seconds,
                        defines={"first": 1, "last": APPEND_CONVERSATIONS},
                    )
                    await asyncio.sleep(0.5)  # deliveries still in flight
                    cpu[mode][0] += proc.own_cpu() - own_before
                    cpu[mode][1] += _server_cpu(server_pid) - server_before
                finally:
                    for helper in (poller, listener):
                        if helper is not None:
                            await helper.stop()
                runs[mode].append(run)
                if poller is not None:
                    latencies[mode] += poller.latencies_ms
                elif listener is not None or mode == "wal2json streamed":
                    got = listener.receipts if listener is not None else receipts
                    commits = await _commit_times(url, conversations)
                    latencies[mode] += _latencies_ms(got, commits, since)[0]
    finally:
        await _set_trigger(url, False)
        if not feed.connected:
            await feed.stop()
            await feed.start(hub)
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)

    combined = {mode: pgbench.combine(r) for mode, r in runs.items()}
    off = combined["off"]
    for mode, run in combined.items():
        per_round = ", ".join(f"{r.tps:,.0f}" for r in runs[mode])
        figure(f"{mode:<18} {fmt_rate(run.tps):>12}  x{run.tps / off.tps:.2f}", f"rounds {per_round}")
    for mode in MODES:
        appends = sum(r.transactions for r in runs[mode]) / 1000
        own, server = cpu[mode]
        figure(
            f"  CPU per 1000 appends, {mode}",
            f"API process {1000 * own / appends:.0f} ms, "
            f"feed's server process {1000 * server / appends:.0f} ms",
        )
    for mode in MODES[1:]:
        values = latencies[mode]
        figure(
            f"  delivery under this load, {mode}",
            f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms",
        )
    # Each round runs the modes back to back: the median of the per-round ratios is less
    # sensitive to load that drifts during the run than the ratio of the totals.
    medians = {
        mode: statistics.median(r.tps / o.tps for r, o in zip(runs[mode], runs["off"], strict=True))
        for mode in MODES[1:]
    }
    line("ratios to no feed, median of the rounds: " + ", ".join(f"{m} {v:.2f}" for m, v in medians.items()))
    outcomes = [
        Outcome(
            f"rt append, {mode} / no feed",
            f"{fmt_rate(combined[mode].tps)} vs {fmt_rate(off.tps)}",
            medians[mode],
            RATIO_GOAL if mode == "wal2json streamed" else None,
        )
        for mode in MODES[1:]
    ]
    for outcome in outcomes:
        verdict_line(outcome)
    return outcomes


async def _run(url: str, settings: Settings) -> list[Outcome]:
    pool = create_pool(DatabaseSettings.model_validate({"DATABASE_URL": url, "DB_POOL_MAX_SIZE": 8}))
    await pool.open(wait=True, timeout=30)
    store = ConversationManager(PostgresTransport(pool))
    # No periodic re-reads: the "no feed" runs must not carry the hub's polling.
    hub = Hub(
        StoreSource(store),
        PostgresFeed(url, backoff=Backoff(0.1, 2.0)),
        queue_size=1024,
        check_interval=3600,
        degraded_check_interval=3600,
    )
    await hub.start()
    outcomes: list[Outcome] = []
    try:
        if hub.feed is None or not await hub.feed.wait_connected(30):
            raise BenchError("the feed did not connect")
        subs, memory = await _memory(hub)
        outcomes.append(memory)
        try:
            outcomes += await _latency(url, hub, subs, settings)
        except (BenchError, pgbench.PgbenchError, psycopg.Error) as exc:
            line(f"ERROR: {exc}")
            outcomes.append(Outcome.failed("rt latency", P50_GOAL, str(exc)))
        try:
            outcomes += await _throughput(url, hub, subs, settings)
        except (BenchError, pgbench.PgbenchError, psycopg.Error) as exc:
            line(f"ERROR: {exc}")
            outcomes.append(Outcome.failed("rt append cost", RATIO_GOAL, str(exc)))
        stats = hub.stats()
        line(
            f"hub: {stats.published:,} published, {stats.overflows} overflows, "
            f"{stats.catch_up_reads} catch-up reads"
        )
    finally:
        await hub.stop()
        await pool.close()
    return outcomes


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "appender":
        url, rate, seconds, conversations, clients = sys.argv[2:7]
        asyncio.run(_appender(url, float(rate), float(seconds), int(conversations), int(clients)))
        return 0
    settings = Settings.from_env()
    cluster = BenchCluster(port=settings.port, name="rtbench")
    print(
        f"supabase-conversations realtime benchmarks ({'quick' if settings.quick else 'full'} mode)",
        flush=True,
    )
    line(f"cores: {os.cpu_count()}; cluster: throwaway, 127.0.0.1:{settings.port}, from supabase/migrations")
    started = time.time()
    url = cluster.start()
    outcomes: list[Outcome] = []
    try:
        _prepare(cluster, url)
        outcomes = asyncio.run(_run(url, settings))
        summary(outcomes)
    finally:
        cluster.stop(wipe=not settings.keep)
    line(f"took {time.time() - started:.0f} s")
    return 0 if all(o.error is None for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
