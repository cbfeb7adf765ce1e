"""Benchmark: ``POST /chat`` turns per second against plain appends through HTTP, and the
storage overhead of a turn apart from model time.

The API is served as ``make run`` serves it (uvicorn, one worker, on 127.0.0.1, auth
disabled: requests act as the service) with the offline provider, whose model time is about
nothing, so a turn costs what the service adds to a model: two store round trips
(``begin_turn``, then ``finish_turn``), the history window decoded and sent to the
provider, the answer encoded. Both workloads run in the same run against the same server, with
the same client: wrk (a Lua script builds the POST bodies, a random one of the conversations
per request), 16 keep-alive connections; or, without wrk, an httpx async load generator with 16
keep-alive clients. Rounds alternate (appends, turns, appends, turns, ...) so a neighbour
loading the machine affects both sides alike; the ratio is over the rounds' sums.

Goal: turns/s >= 0.4 x appends/s (a turn is two store calls where an append is one).

Then, against the same server, alternating rounds again: turns with the token window (the
default, CHAT_TOKEN_BUDGET) over turns with the count window (``token_budget: 0``); and turns
while a summary is due on nearly every turn (``compaction_threshold_tokens = 1``: the offline
model's summary made in the background, two more store calls) over turns while none is ever
due (``0``). Both as ratios, no goal.

Storage overhead per turn, two ways:

* through HTTP, one client at a time: request time minus the answer's ``duration_ms`` (the
  time the turn spent on the model and tools), i.e. HTTP + the two store calls + the app;
* the two store calls alone, timed in this process with the API's own pool and transport
  settings, 16 concurrent turns: ``begin_turn`` + ``finish_turn`` per turn.

Every HTTP run prints the API process's CPU per request (per turn for ``/chat``), read from
/proc while it ran. When the turns miss their goal (or ``BENCH_PROFILE=1``; ``0`` never),
py-spy samples the API while the turns run again (bench/profile.py), and the report lists
where its time goes.

Standalone: ``python -m bench.chat`` (``BENCH_QUICK=1`` for a short run) builds its own
throwaway cluster (``BENCH_CHAT_PORT``, 54331; ``scripts/stack.sh`` with
``STACK_NAME=benchchat``) and removes it afterwards (``BENCH_KEEP=1`` leaves it up). From the
bench runner: ``run(url, config)`` on a migrated database (it adds its own conversations).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import msgspec
import psycopg

from bench.api import Api
from bench.cluster import BenchCluster
from bench.config import Config
from bench.latency import percentile
from bench.load import WRK_THREAD_SEEDS, Load, run_wrk
from bench.profile import profile_api, wanted
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, summary, verdict_line

__all__ = [
    "APPEND_PREFIX",
    "CHAT_PREFIX",
    "CLIENTS",
    "GOAL",
    "MESSAGE",
    "Plan",
    "chat_api",
    "main",
    "prepare",
    "run",
]

GOAL = Goal(">=", 0.4)
CLIENTS = 16
MESSAGE = "How is line 999?"  # no arithmetic, no "time": the offline provider calls no tool
CHAT_PREFIX = "bench-chat-"
APPEND_PREFIX = "bench-append-"

_json = msgspec.json.Encoder()
# What a workload adds to the /chat body: "chat" is the default token window (CHAT_TOKEN_BUDGET),
# "chat-count" the count window (token_budget 0: the last CHAT_HISTORY_LIMIT messages).
_EXTRA = {"chat-count": ',"token_budget":0'}


@dataclass(frozen=True)
class Plan:
    quick: bool
    duration: float
    rounds: int
    conversations: int
    overhead_turns: int
    store_turns: int
    threads: int

    @classmethod
    def from_config(cls, config: Config) -> Plan:
        return cls(
            quick=config.quick,
            duration=config.duration,
            rounds=int(os.environ.get("BENCH_ROUNDS") or (1 if config.quick else 3)),
            conversations=200 if config.quick else 1000,
            overhead_turns=300 if config.quick else 2000,
            store_turns=1000 if config.quick else 8000,
            threads=config.threads,
        )


# -- set-up -------------------------------------------------------------------------------------
def prepare(url: str, conversations: int) -> None:
    """The conversations both workloads use: bench-chat-1.. and bench-append-1.. (48 h)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for prefix in (CHAT_PREFIX, APPEND_PREFIX):
            conn.execute(
                "select public.create_conversation(p_conversation_id => %s || g, p_ttl_hours => 48)"
                "  from generate_series(1, %s) g"
                " where not exists (select 1 from public.ai_conversations c"
                "                    where c.conversation_id = %s || g)",
                (prefix, conversations, prefix),
            )


# Served by uvicorn's CLI on the factory, the way these figures have always been taken.
SERVE_FACTORY = (
    *("-m", "uvicorn", "--factory", "app.server:create_app"),
    *("--log-level", "warning", "--no-access-log"),
)


def chat_api(url: str) -> Api:
    """The API with auth disabled, the offline provider and a pool of CLIENTS connections."""
    pool = str(CLIENTS)
    return Api(
        url, SERVE_FACTORY, {"LLM_PROVIDER": "offline", "DB_POOL_MIN_SIZE": pool, "DB_POOL_MAX_SIZE": pool}
    )


# -- load: wrk ----------------------------------------------------------------------------------
_LUA = (
    """
local path_kind = "{kind}"
local prefix = "{prefix}"
local n = {n}
local message = "{message}"
local extra = '{extra}'

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
"""
    + WRK_THREAD_SEEDS
    + """function request()
  local id = prefix .. math.random(n)
  if path_kind == "chat" then
    return wrk.format(nil, "/chat", nil,
      '{{"message":"' .. message .. '","conversation_id":"' .. id .. '"' .. extra .. '}}')
  end
  return wrk.format(nil, "/conversations/" .. id .. "/messages", nil,
    '{{"role":"user","content":"' .. message .. '"}}')
end
"""
)


def _wrk(base: str, kind: str, plan: Plan, seconds: float, scripts: Path) -> Load:
    script = scripts / f"{kind}.lua"
    if not script.exists():
        prefix = APPEND_PREFIX if kind == "append" else CHAT_PREFIX
        script.write_text(
            _LUA.format(
                kind="append" if kind == "append" else "chat",
                prefix=prefix,
                n=plan.conversations,
                message=MESSAGE,
                extra=_EXTRA.get(kind, ""),
            )
        )
    return run_wrk(
        [
            "wrk",
            f"-t{plan.threads}",
            f"-c{CLIENTS}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            base,
        ]
    )


# -- load: httpx (without wrk; and the one-client overhead) --------------------------------------
def _request(kind: str, plan: Plan, i: int) -> tuple[str, bytes]:
    n = i % plan.conversations + 1
    if kind != "append":
        body = {"message": MESSAGE, "conversation_id": f"{CHAT_PREFIX}{n}"}
        if kind == "chat-count":
            body["token_budget"] = 0
        return "/chat", _json.encode(body)
    return f"/conversations/{APPEND_PREFIX}{n}/messages", _json.encode({"role": "user", "content": MESSAGE})


async def _httpx_load(
    base: str,
    kind: str,
    plan: Plan,
    *,
    clients: int,
    seconds: float | None = None,
    count: int | None = None,
    on_answer: Callable[[float, bytes], None] | None = None,
) -> Load:
    """`clients` keep-alive clients sending requests for `seconds`, or `count` requests in all."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as http:
        began = time.perf_counter()
        deadline = began + seconds if seconds is not None else float("inf")

        async def client(k: int) -> None:
            nonlocal errors, sent
            i = k * 7919
            while time.perf_counter() < deadline and (count is None or sent < count):
                sent += 1
                i += 1
                path, body = _request(kind, plan, i)
                start = time.perf_counter()
                response = await http.post(path, content=body, headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                if response.status_code >= 300:
                    errors += 1
                    continue
                latencies.append(elapsed)
                if on_answer is not None:
                    on_answer(elapsed, response.content)

        await asyncio.gather(*(client(k) for k in range(clients)))
        wall = time.perf_counter() - began
    return Load(len(latencies), wall, percentile(latencies, 50), percentile(latencies, 99), non_2xx=errors)


def _throughput(base: str, kind: str, plan: Plan, seconds: float, scripts: Path) -> Load:
    if shutil.which("wrk"):
        return _wrk(base, kind, plan, seconds, scripts)
    return asyncio.run(_httpx_load(base, kind, plan, clients=CLIENTS, seconds=seconds))


def _measured(server: Api, kind: str, plan: Plan, scripts: Path) -> Load:
    """One measured run of ``kind``, with the CPU the API process took while it ran."""
    before = server.cpu_seconds()
    load = _throughput(server.base, kind, plan, plan.duration, scripts)
    return replace(load, api_cpu=server.cpu_seconds() - before)


def _profile(server: Api, kind: str, plan: Plan, label: str) -> None:
    """py-spy on the API while ``kind`` runs as in the measured rounds (bench/profile.py)."""
    with tempfile.TemporaryDirectory(prefix="bench-chat-profile-") as tmp:

        def load(duration: float) -> float | None:
            try:
                return _throughput(server.base, kind, plan, duration, Path(tmp)).rate
            except (RuntimeError, httpx.HTTPError) as exc:
                line(f"the load during the profile failed: {exc}")
                return None

        profile_api(server.pid, load, 3.0 if plan.quick else 10.0, label, tag=kind)


# -- storage overhead ---------------------------------------------------------------------------
def _http_overhead(base: str, plan: Plan) -> tuple[list[float], list[float]]:
    """One client, `overhead_turns` turns: (request ms - duration_ms, duration_ms) per turn."""
    overheads: list[float] = []
    model: list[float] = []

    def on_answer(elapsed: float, body: bytes) -> None:
        duration = float(msgspec.json.decode(body)["duration_ms"])
        overheads.append(elapsed - duration)
        model.append(duration)

    asyncio.run(_httpx_load(base, "chat", plan, clients=1, count=plan.overhead_turns, on_answer=on_answer))
    return overheads, model


async def _store_calls(url: str, plan: Plan) -> list[float]:
    """The two store calls of a turn, timed directly: 16 concurrent turns over the API's pool
    and transport (same settings as the server's), `store_turns` turns in all."""
    from app.config import DatabaseSettings
    from app.db import create_pool
    from app.store import ConversationManager
    from app.store.models import NewMessage
    from app.store.postgres import PostgresTransport

    db = DatabaseSettings.model_validate(
        {"DATABASE_URL": url, "DB_POOL_MIN_SIZE": CLIENTS, "DB_POOL_MAX_SIZE": CLIENTS}
    )
    pool = create_pool(db)
    await pool.open(wait=True)
    store = ConversationManager(PostgresTransport(pool))
    times: list[float] = []
    remaining = plan.store_turns
    reply_metadata = {
        "model": "bench",
        "tokens": {"prompt": 10, "completion": 20},
        "duration_ms": 0,
        "tool_calls": [],
        "finish_reason": "stop",
    }
    try:

        async def worker(k: int) -> None:
            nonlocal remaining
            i = k * 7919
            while remaining > 0:
                remaining -= 1
                i += 1
                cid = f"{CHAT_PREFIX}{i % plan.conversations + 1}"
                start = time.perf_counter()
                begun = await store.begin_turn(
                    [NewMessage("user", MESSAGE)], conversation_id=cid, history_limit=10
                )
                assert begun.turn is not None
                await store.finish_turn(
                    begun.turn.id,
                    [NewMessage("assistant", "An answer.", reply_metadata)],
                    result=reply_metadata,
                )
                times.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(worker(k) for k in range(CLIENTS)))
    finally:
        await pool.close()
    return times


# -- the token window and compaction ----------------------------------------------------------
def _threshold(url: str, tokens: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update public.ai_conversation_settings set compaction_threshold_tokens = %s", (tokens,))


def _ratio_rounds(
    name: str, plan: Plan, sides: Sequence[tuple[str, Callable[[], Load]]], goal: Goal | None = None
) -> Outcome:
    """Alternating rounds of two workloads; the first's turns/s over the second's."""
    loads: list[list[Load]] = [[], []]
    for _ in range(plan.rounds):
        for k, (_, measure) in enumerate(sides):
            loads[k].append(measure())
    rates = [sum(x.requests for x in runs) / sum(x.seconds for x in runs) for runs in loads]
    for (label, _), runs in zip(sides, loads, strict=True):
        for n, load in enumerate(runs, 1):
            figure(f"round {n}: {label}", _rate_text(load, "turn"))
    errors = sum(x.errors for runs in loads for x in runs)
    outcome = Outcome(
        name=name,
        figures=f"{fmt_rate(rates[0], 'turns/s')} vs {fmt_rate(rates[1], 'turns/s')}",
        value=rates[0] / rates[1],
        goal=goal,
        error=f"{errors} requests failed" if errors else None,
    )
    verdict_line(outcome)
    return outcome


def _context_rounds(url: str, server: Api, plan: Plan) -> list[Outcome]:
    """/chat with the token window against the count window, then with a summary due on
    (nearly) every turn against never, all against the same server in this run."""
    with tempfile.TemporaryDirectory(prefix="bench-chat-ctx-") as tmp:
        scripts = Path(tmp)

        def load(kind: str) -> Callable[[], Load]:
            return lambda: _measured(server, kind, plan, scripts)

        section("chat: the token window vs the count window, compaction due vs not")
        line(
            "token window: CHAT_TOKEN_BUDGET (8000), at most CHAT_HISTORY_LIMIT (10) messages; "
            "count window: token_budget 0"
        )
        _threshold(url, 0)
        try:
            window = _ratio_rounds(
                "chat turns: token / count window",
                plan,
                [("token window", load("chat")), ("count window", load("chat-count"))],
            )
            line(
                "compaction due: compaction_threshold_tokens = 1 (a summary whenever history is left "
                "out unsummarized, in the background, offline model); not due: 0 (never)"
            )

            def due() -> Load:
                _threshold(url, 1)
                return load("chat")()

            def not_due() -> Load:
                _threshold(url, 0)
                return load("chat")()

            compaction = _ratio_rounds(
                "chat turns: compaction due / not due", plan, [("due", due), ("not due", not_due)]
            )
        finally:
            _threshold(url, 4000)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "select count(*) from public.ai_conversation_messages"
                ' where conversation_id like %s and metadata @> \'{"kind": "summary"}\'',
                (CHAT_PREFIX + "%",),
            ).fetchone()
        line(f"summaries stored in the bench conversations: {row[0] if row else 0:,}")
    return [window, compaction]


# -- the benchmark ------------------------------------------------------------------------------
def _rate_text(load: Load, unit: str = "request") -> str:
    return (
        f"{fmt_rate(load.rate, 'req/s'):>12}  p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms"
        f"  API CPU per {unit} {load.cpu_us:.0f} us"
    )


def _cpu_us(loads: Sequence[Load]) -> float:
    """The API's CPU per request (or turn) over several runs, in microseconds."""
    requests = sum(x.requests for x in loads)
    return sum(x.api_cpu for x in loads) / requests * 1e6 if requests else float("nan")


def _pcts(values: Sequence[float]) -> str:
    return f"p50 {percentile(values, 50):.2f} ms  p99 {percentile(values, 99):.2f} ms"


def run(url: str, config: Config) -> list[Outcome]:
    plan = Plan.from_config(config)
    client = f"wrk -t{plan.threads} -c{CLIENTS}" if shutil.which("wrk") else f"httpx, {CLIENTS} clients"
    section("chat: POST /chat turns vs POST /conversations/{id}/messages appends, through HTTP")
    line(
        f"uvicorn, 1 worker, API_AUTH=disabled, offline provider; {client}, keep-alive; "
        f"{plan.rounds} round(s) of {plan.duration:g} s per workload, alternating; "
        f"a random one of {plan.conversations:,} conversations per request"
    )
    prepare(url, plan.conversations)
    server = chat_api(url)
    outcomes: list[Outcome] = []
    try:
        server.wait()
        with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
            scripts = Path(tmp)
            for kind in ("append", "chat"):  # warm-up: connections, prepared statements, caches
                _throughput(server.base, kind, plan, 1.0, scripts)
            appends: list[Load] = []
            turns: list[Load] = []
            for _ in range(plan.rounds):
                appends.append(_measured(server, "append", plan, scripts))
                turns.append(_measured(server, "chat", plan, scripts))
        errors = sum(x.errors for x in appends + turns)
        append_rate = sum(x.requests for x in appends) / sum(x.seconds for x in appends)
        turn_rate = sum(x.requests for x in turns) / sum(x.seconds for x in turns)
        for n, (a, t) in enumerate(zip(appends, turns, strict=True), 1):
            figure(f"round {n}: appends", _rate_text(a))
            figure(f"round {n}: chat turns", _rate_text(t, "turn"))
        wall = sum(x.seconds for x in appends + turns)
        cpu = sum(x.api_cpu for x in appends + turns)
        line(
            f"API process CPU: {cpu / wall:.2f} cores on average while measured; "
            f"API CPU per request {_cpu_us(appends):.0f} us (appends), per turn {_cpu_us(turns):.0f} us"
        )
        if errors:
            line(f"ERROR: {errors} requests failed (non-2xx or socket errors)")
        outcome = Outcome(
            name=f"chat turns / HTTP appends ({CLIENTS} cl.)",
            figures=f"{fmt_rate(turn_rate, 'turns/s')} vs {fmt_rate(append_rate, 'appends/s')}",
            value=turn_rate / append_rate,
            goal=GOAL,
            error=f"{errors} requests failed" if errors else None,
        )
        outcomes.append(outcome)
        verdict_line(outcome)
        # The turns are what a missed ratio is about: a turn's extra cost over an append.
        if wanted(config.profile, [outcome]):
            _profile(server, "chat", plan, "chat turns through HTTP")

        outcomes += _context_rounds(url, server, plan)

        cpu_before = server.cpu_seconds()
        overheads, model = _http_overhead(server.base, plan)
        cpu_us = (server.cpu_seconds() - cpu_before) / len(overheads) * 1e6 if overheads else float("nan")
        figure(
            f"turn over HTTP, 1 client, {len(overheads):,} turns: overhead",
            f"{_pcts(overheads)}  API CPU per turn {cpu_us:.0f} us",
        )
        figure("  model + tools (the answers' duration_ms)", _pcts(model))
        outcomes.append(
            Outcome(
                name="chat overhead/turn, HTTP, 1 client",
                figures="request time - duration_ms",
                value=percentile(overheads, 50),
                goal=None,
                value_text=f"p50 {percentile(overheads, 50):.2f} / p99 {percentile(overheads, 99):.2f} ms",
            )
        )
    finally:
        server.stop()

    store_times = asyncio.run(_store_calls(url, plan))
    figure(f"the 2 store calls alone, {CLIENTS} concurrent, {len(store_times):,} turns", _pcts(store_times))
    outcomes.append(
        Outcome(
            name=f"chat store calls/turn ({CLIENTS} concurrent)",
            figures="begin_turn + finish_turn",
            value=percentile(store_times, 50),
            goal=None,
            value_text=f"p50 {percentile(store_times, 50):.2f} / p99 {percentile(store_times, 99):.2f} ms",
        )
    )
    return outcomes


def main() -> int:
    """Builds its own throwaway cluster, runs, prints the summary; exit 1 only on errors."""
    config = Config.from_env()
    port = int(os.environ.get("BENCH_CHAT_PORT") or 54331)
    cluster = BenchCluster(port, name="benchchat")
    started = time.monotonic()
    print(f"starting the chat bench cluster on port {port} ...", flush=True)
    outcomes: list[Outcome] = []
    try:
        url = cluster.start()
        line(f"cores: {os.cpu_count()}; {'quick' if config.quick else 'full'} mode")
        outcomes = run(url, config)
    except (RuntimeError, psycopg.Error, httpx.HTTPError) as exc:
        line(f"ERROR: {exc}")
        outcomes.append(Outcome.failed("chat", GOAL, str(exc)))
    finally:
        if config.keep:
            print(f"\nBENCH_KEEP: the chat bench cluster stays up on port {port}")
        else:
            cluster.stop(wipe=True)
    summary(outcomes)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 1 if any(o.verdict == "ERROR" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
