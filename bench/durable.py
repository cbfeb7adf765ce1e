"""Benchmark D: replies that outlive their connection (issue 19), what they cost and how fast they
travel. Each figure is held against a ceiling measured in the same run.

* D1, throughput: streamed ``POST /chat`` turns per second with durable replies
  (``TURN_STREAM=database``: every delta journaled to public.ai_turn_events in batches, leases
  renewed) over the same turns kept in the generating process only (``TURN_STREAM=memory``, the
  ceiling). Two API processes, identical but for that setting, loaded in alternating rounds with
  the same client (wrk, 16 connections, ``"stream": true``; httpx without wrk). Goal >= 0.85.
* D2, delivery to the other instance: API A generates 50 concurrent streamed turns (the offline
  model with LLM_OFFLINE_DELAY_SECONDS between words, so deltas are spread as a model's are); each
  is read on API B too (``GET /turns/{id}/events``, through Postgres and B's wal2json feed). A
  delta's latency is its arrival from B minus its arrival from A, whose stream is the generating
  process's own log (the ceiling: no database in between). Deltas B replayed (written before its
  stream opened) are left out. p50 / p99; goal p99 <= 50 ms.
* D3, resume: on B, the time from ``GET /turns/{id}/events`` with ``Last-Event-ID`` (mid-stream,
  a turn B never read) to its first replayed delta, against ``GET /turns/{id}`` (the same
  authorising read of the turn, answered as JSON) in alternating requests.
* D4, WAL: bytes of WAL per streamed reply of 500 tokens (``pg_current_wal_lsn`` before and
  after): the runner's own journal (app.turns.runner.Journal, TURN_FLUSH_SECONDS' default) given
  500 deltas at a model's pace (one every 5 ms, 200 tokens/s) by a turn begun and finished as the
  engine does, against the same turn without the journal (the ceiling: TURN_STREAM=memory). Then
  ``bench.turn_streams``: the candidate designs, WAL and batches/s by batch size.

From the bench runner: ``run(url, config)`` on a migrated database (``BENCH_ONLY=durable``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import turn_streams
from bench.api import Api
from bench.chat import CHAT_PREFIX, CLIENTS, SERVE_FACTORY, Plan, prepare
from bench.config import Config
from bench.latency import percentile
from bench.load import WRK_THREAD_SEEDS, Load, run_wrk
from bench.profile import profile_api, wanted
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = ["DELIVERY_GOAL", "THROUGHPUT_GOAL", "run"]

THROUGHPUT_GOAL = Goal(">=", 0.85)
DELIVERY_GOAL = Goal("<=", 50.0, " ms")
STREAMS = 50
WORD_DELAY = 0.05  # seconds between the offline model's words in D2
# 30 words: the offline echo repeats them, a reply of about 45 deltas.
LONG_MESSAGE = " ".join(f"w{n}" for n in range(1, 31))
SHORT_MESSAGE = "How is line 999?"  # as bench.chat's turns: no tool, a reply of about 17 words
REPLY_TOKENS = 500
TOKEN_GAP = 0.005

_LUA = (
    """
local n = {n}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "text/event-stream"
"""
    + WRK_THREAD_SEEDS
    + """function request()
  return wrk.format(nil, "/chat", nil,
    '{{"message":"{message}","stream":true,"conversation_id":"{prefix}' .. math.random(n) .. '"}}')
end
"""
)


def _api(url: str, **env: str) -> Api:
    pool = str(CLIENTS)
    settings = {
        "LLM_PROVIDER": "offline",
        "DB_POOL_MIN_SIZE": pool,
        "DB_POOL_MAX_SIZE": pool,
        "REALTIME_FEED": "postgres",
    }
    return Api(url, SERVE_FACTORY, {**settings, **env})


# -- D1: throughput ------------------------------------------------------------------------------
def _stream_load(base: str, plan: Plan, seconds: float, script: Path) -> Load:
    if shutil.which("wrk"):
        command = ["wrk", f"-t{plan.threads}", f"-c{CLIENTS}", f"-d{max(1, round(seconds))}s", "--latency"]
        return run_wrk([*command, "-s", str(script), base])
    return asyncio.run(_httpx_streams(base, plan, seconds))


async def _httpx_streams(base: str, plan: Plan, seconds: float) -> Load:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as http:
        began = time.perf_counter()

        async def client(k: int) -> None:
            nonlocal errors
            i = k * 7919
            while time.perf_counter() < began + seconds:
                i += 1
                body = {"message": SHORT_MESSAGE, "stream": True, "conversation_id": _conversation(i, plan)}
                start = time.perf_counter()
                async with http.stream("POST", "/chat", json=body) as response:
                    await response.aread()
                if response.status_code >= 300:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(client(k) for k in range(CLIENTS)))
        wall = time.perf_counter() - began
    return Load(len(latencies), wall, percentile(latencies, 50), percentile(latencies, 99), non_2xx=errors)


def _conversation(i: int, plan: Plan) -> str:
    return f"{CHAT_PREFIX}{i % plan.conversations + 1}"


def _measured(server: Api, plan: Plan, script: Path) -> Load:
    before = server.cpu_seconds()
    load = _stream_load(server.base, plan, plan.duration, script)
    return replace(load, api_cpu=server.cpu_seconds() - before)


def _throughput(url: str, plan: Plan, profile: bool | None) -> Outcome:
    section("D1. streamed /chat turns: durable replies (TURN_STREAM=database) / memory only")
    client = f"wrk -t{plan.threads} -c{CLIENTS}" if shutil.which("wrk") else f"httpx, {CLIENTS} clients"
    rounds = max(3, plan.rounds)  # a ratio of two rates: alternate, so a neighbour's load hits both
    line(
        f"two API processes (uvicorn, 1 worker, offline model, wal2json feed each), {client}, "
        f'"stream": true; {rounds} rounds of {plan.duration:g} s each, alternating'
    )
    durable, memory = _api(url, TURN_STREAM="database"), _api(url, TURN_STREAM="memory")
    try:
        durable.wait()
        memory.wait()
        with tempfile.TemporaryDirectory(prefix="bench-durable-") as tmp:
            script = Path(tmp) / "stream.lua"
            script.write_text(_LUA.format(n=plan.conversations, message=SHORT_MESSAGE, prefix=CHAT_PREFIX))
            for server in (memory, durable):  # warm-up: connections, prepared statements
                _stream_load(server.base, plan, 1.0, script)
            loads = [
                (_measured(memory, plan, script), _measured(durable, plan, script)) for _ in range(rounds)
            ]
            outcome = _throughput_outcome(loads)
            if wanted(profile, [outcome]):
                for label, server in (("memory", memory), ("durable", durable)):
                    profile_api(
                        server.pid,
                        lambda seconds, s=server: _stream_load(s.base, plan, seconds, script).rate,
                        plan.duration,
                        f"streamed turns, TURN_STREAM={label}",
                        tag=f"durable-{label}",
                    )
    finally:
        durable.stop()
        memory.stop()
    return outcome


def _throughput_outcome(rounds: list[tuple[Load, Load]]) -> Outcome:
    for n, (m, d) in enumerate(rounds, 1):
        for label, load in (("memory", m), ("durable", d)):
            figure(
                f"round {n}: {label}",
                f"{fmt_rate(load.rate, 'turns/s')}  p50 {load.p50_ms:.1f} ms  p99 {load.p99_ms:.1f} ms"
                f"  API CPU/turn {load.cpu_us:.0f} us",
            )
    mem = [m for m, _ in rounds]
    dur = [d for _, d in rounds]
    errors = sum(x.errors for x in mem + dur)
    mem_rate = sum(x.requests for x in mem) / sum(x.seconds for x in mem)
    dur_rate = sum(x.requests for x in dur) / sum(x.seconds for x in dur)
    outcome = Outcome(
        name=f"D1 durable / memory turns ({CLIENTS} cl.)",
        figures=f"{fmt_rate(dur_rate, 'turns/s')} vs {fmt_rate(mem_rate, 'turns/s')}",
        value=dur_rate / mem_rate,
        goal=THROUGHPUT_GOAL,
        error=f"{errors} requests failed" if errors else None,
    )
    verdict_line(outcome)
    return outcome


# -- D2 and D3: two instances --------------------------------------------------------------------
@dataclass
class _Event:
    seq: int
    name: str
    data: str


async def _events(response: httpx.Response) -> AsyncIterator[_Event]:
    """The server-sent events of a response (the fields this API sends: id, event, data)."""
    seq, name, data = -1, "message", ""
    async for text in response.aiter_lines():
        if not text:
            if data:
                yield _Event(seq, name, data)
            seq, name, data = -1, "message", ""
        elif text.startswith("id:"):
            seq = int(text[3:].strip())
        elif text.startswith("event:"):
            name = text[6:].strip()
        elif text.startswith("data:"):
            data = text[5:].strip()


@dataclass
class _Turn:
    turn_id: str = ""
    on_a: dict[int, float] = field(default_factory=dict)  # seq -> arrival from A
    on_b: dict[int, float] = field(default_factory=dict)  # seq -> arrival from B
    b_opened: float = float("inf")
    ends: list[str] = field(default_factory=list)


async def _follow_on_b(b: httpx.AsyncClient, turn: _Turn) -> None:
    async with b.stream("GET", f"/turns/{turn.turn_id}/events", headers={"Last-Event-ID": "0"}) as response:
        response.raise_for_status()
        async for event in _events(response):
            now = time.perf_counter()
            turn.b_opened = min(turn.b_opened, now)
            if event.name == "delta":
                turn.on_b[event.seq] = now
            elif event.name in ("done", "stopped", "error"):
                turn.ends.append(f"B {event.name}")
                return


async def _one_turn(a: httpx.AsyncClient, b: httpx.AsyncClient, conversation: str) -> _Turn:
    turn = _Turn()
    follower: asyncio.Task[None] | None = None
    body = {"message": LONG_MESSAGE, "stream": True, "conversation_id": conversation}
    async with a.stream("POST", "/chat", json=body) as response:
        response.raise_for_status()
        async for event in _events(response):
            now = time.perf_counter()
            if event.name == "start":
                turn.turn_id = json.loads(event.data)["turn_id"]
                follower = asyncio.create_task(_follow_on_b(b, turn))
            elif event.name == "delta":
                turn.on_a[event.seq] = now
            elif event.name in ("done", "stopped", "error"):
                turn.ends.append(f"A {event.name}")
    if follower is not None:
        await asyncio.wait_for(follower, 30)
    return turn


async def _deliveries(a_base: str, b_base: str, plan: Plan) -> tuple[list[_Turn], float]:
    limits = httpx.Limits(max_connections=STREAMS + 5, max_keepalive_connections=STREAMS + 5)
    async with (
        httpx.AsyncClient(base_url=a_base, limits=limits, timeout=60.0) as a,
        httpx.AsyncClient(base_url=b_base, limits=limits, timeout=60.0) as b,
    ):
        await _one_turn(a, b, _conversation(0, plan))  # warm-up: both instances read a turn
        began = time.perf_counter()
        turns = await asyncio.gather(*(_one_turn(a, b, _conversation(k + 1, plan)) for k in range(STREAMS)))
        return list(turns), time.perf_counter() - began


def _delivery(turns: list[_Turn], wall: float, api_cpu: float) -> Outcome:
    section(f"D2. delta delivery to a reader on the other instance, {STREAMS} concurrent streams")
    line(
        f"API A generates (offline model, {WORD_DELAY * 1000:.0f} ms between words), API B serves each "
        "stream from Postgres (ai_turn_events batches, carried by its wal2json feed); "
        "latency = arrival from B - arrival from A"
    )
    latencies = [
        (turn.on_b[seq] - at) * 1000
        for turn in turns
        for seq, at in turn.on_a.items()
        if seq in turn.on_b and at > turn.b_opened
    ]
    deltas = sum(len(t.on_a) for t in turns)
    missing = sum(1 for t in turns for seq in t.on_a if seq not in t.on_b)
    complete = sum(
        1 for t in turns if t.ends == ["A done", "B done"] or sorted(t.ends) == ["A done", "B done"]
    )
    figure("turns, deltas generated", f"{len(turns)} turns, {deltas:,} deltas in {wall:.1f} s")
    figure("deltas measured live on B (not replayed)", f"{len(latencies):,}")
    figure(
        "latency B - A",
        f"p50 {percentile(latencies, 50):.1f} ms  p99 {percentile(latencies, 99):.1f} ms"
        f"  max {max(latencies, default=float('nan')):.1f} ms",
    )
    figure("API processes' CPU while they ran", f"{api_cpu / wall:.2f} cores")
    error = None
    if missing or complete != len(turns):
        error = f"{missing} deltas missing on B, {len(turns) - complete} streams not ending with done on both"
        line(f"ERROR: {error}")
    outcome = Outcome(
        name=f"D2 delta latency, other instance ({STREAMS} streams)",
        figures=f"p50 {percentile(latencies, 50):.1f} ms, {len(latencies):,} deltas",
        value=percentile(latencies, 99),
        goal=DELIVERY_GOAL,
        value_text=f"p99 {percentile(latencies, 99):.1f} ms",
        error=error,
    )
    verdict_line(outcome)
    return outcome


async def _resumes(b_base: str, turns: list[_Turn]) -> tuple[list[float], list[float]]:
    """On B, alternating: time to the first delta after Last-Event-ID 10; time to GET /turns/{id}."""
    first_delta: list[float] = []
    read: list[float] = []
    async with httpx.AsyncClient(base_url=b_base, timeout=30.0) as b:
        for turn in turns:
            start = time.perf_counter()
            async with b.stream("GET", f"/turns/{turn.turn_id}/events", headers={"Last-Event-ID": "10"}) as r:
                async for event in _events(r):
                    if event.name == "delta":
                        assert event.seq == 11, event
                        first_delta.append((time.perf_counter() - start) * 1000)
                        break
            start = time.perf_counter()
            got = await b.get(f"/turns/{turn.turn_id}")
            got.raise_for_status()
            read.append((time.perf_counter() - start) * 1000)
    return first_delta, read


def _resume(first_delta: list[float], read: list[float]) -> Outcome:
    section("D3. resume: GET /turns/{id}/events with Last-Event-ID to its first replayed delta")
    line("on API B, turns it never read (finished on A, their events kept); alternating with GET /turns/{id}")
    figure(f"first replayed delta, {len(first_delta)} resumes", _pcts(first_delta))
    figure("GET /turns/{id} (the same read, as JSON)", _pcts(read))
    ratio = percentile(first_delta, 50) / percentile(read, 50)
    outcome = Outcome(
        name="D3 resume to first delta / GET turn",
        figures=f"p50 {percentile(first_delta, 50):.2f} ms vs {percentile(read, 50):.2f} ms",
        value=ratio,
        goal=None,
        value_text=f"{ratio:.2f} of GET",
    )
    verdict_line(outcome)
    return outcome


def _pcts(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.2f} ms  p99 {percentile(values, 99):.2f} ms"


def _two_instances(url: str, plan: Plan) -> list[Outcome]:
    delay = {"LLM_OFFLINE_DELAY_SECONDS": str(WORD_DELAY)}
    a, b = _api(url, **delay), _api(url, **delay)
    try:
        a.wait()
        b.wait()
        cpu = a.cpu_seconds() + b.cpu_seconds()
        turns, wall = asyncio.run(_deliveries(a.base, b.base, plan))
        cpu = a.cpu_seconds() + b.cpu_seconds() - cpu
        outcomes = [_delivery(turns, wall, cpu)]
        first_delta, read = asyncio.run(_resumes(b.base, [t for t in turns if t.turn_id]))
        outcomes.append(_resume(first_delta, read))
        return outcomes
    finally:
        a.stop()
        b.stop()


# -- D4: WAL per reply ---------------------------------------------------------------------------
async def _wal_per_reply(url: str, journal: bool) -> float:
    """WAL bytes of one turn streaming REPLY_TOKENS deltas, begun and finished as the engine does."""
    from app.config import DatabaseSettings, TurnSettings
    from app.db import create_pool
    from app.store import ConversationManager
    from app.store.models import NewMessage
    from app.store.postgres import PostgresTransport
    from app.turns.events import TurnDelta
    from app.turns.runner import Journal

    pool = create_pool(DatabaseSettings.model_validate({"DATABASE_URL": url, "DB_POOL_MIN_SIZE": 2}))
    await pool.open(wait=True)
    try:
        store = ConversationManager(PostgresTransport(pool))
        async with pool.connection() as conn:
            await conn.set_autocommit(True)
            before = await _lsn(conn)
            begun = await store.begin_turn(
                [NewMessage("user", SHORT_MESSAGE)], conversation_id=f"{CHAT_PREFIX}1"
            )
            assert begun.turn is not None
            turn_id = begun.turn.id
            if journal:
                writer = Journal(store, turn_id, TurnSettings().flush_seconds)
                for seq in range(1, REPLY_TOKENS + 1):
                    writer.add(seq, TurnDelta("word "))
                    await asyncio.sleep(TOKEN_GAP)
                await writer.flush()
            else:
                await asyncio.sleep(REPLY_TOKENS * TOKEN_GAP)
            reply = NewMessage(
                "assistant", "word " * REPLY_TOKENS, {"model": "bench", "finish_reason": "stop"}
            )
            await store.finish_turn(turn_id, [reply], result={"model": "bench"})
            return float(await _lsn(conn) - before)
    finally:
        await pool.close()


async def _lsn(conn: psycopg.AsyncConnection[Any]) -> int:
    cursor = await conn.execute("select pg_current_wal_lsn() - '0/0'::pg_lsn")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _wal(url: str, plan: Plan) -> Outcome:
    section(f"D4. WAL per streamed reply of {REPLY_TOKENS} tokens")
    line(
        f"the runner's journal (app.turns.runner.Journal), a delta every {TOKEN_GAP * 1000:.0f} ms, between "
        "begin_turn and finish_turn; against the same turn without it (TURN_STREAM=memory); median of rounds"
    )
    rounds = 3 if plan.quick else 5
    durable: list[float] = []
    memory: list[float] = []
    for _ in range(rounds):
        memory.append(asyncio.run(_wal_per_reply(url, journal=False)))
        durable.append(asyncio.run(_wal_per_reply(url, journal=True)))
    d, m = percentile(durable, 50), percentile(memory, 50)
    figure("durable (journal + begin + finish)", f"{d / 1024:.1f} KiB/reply")
    figure("memory only (begin + finish)", f"{m / 1024:.1f} KiB/reply")
    figure("the journal's own", f"{(d - m) / 1024:.1f} KiB/reply, {(d - m) / REPLY_TOKENS:.0f} B/token")
    outcome = Outcome(
        name=f"D4 WAL/reply of {REPLY_TOKENS} tokens",
        figures=f"{d / 1024:.1f} KiB vs {m / 1024:.1f} KiB without journal",
        value=d / m,
        goal=None,
        value_text=f"{d / m:.2f}x",
    )
    verdict_line(outcome)
    line("")
    line("the candidate designs (bench.turn_streams), one connection, one transaction per batch:")
    for batch in (1, 5, 25):
        for design in ("table", "message", "notify"):
            wal, rate = turn_streams.measure(url, design, batch)
            line(
                f"  batch {batch:>3} tokens  {design:<8} WAL {wal / 1024:8.1f} KiB/reply"
                f"  {rate:8.0f} batches/s"
            )
    return outcome


def run(url: str, config: Config) -> list[Outcome]:
    plan = Plan.from_config(config)
    prepare(url, plan.conversations)
    outcomes = [_throughput(url, plan, config.profile)]
    outcomes += _two_instances(url, plan)
    outcomes.append(_wal(url, plan))
    return outcomes
