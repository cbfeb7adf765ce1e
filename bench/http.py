"""Benchmark 7: the HTTP API against pgbench running the functions it calls, in the same run.

Issue 3's performance section. The API is served as ``make run`` serves it (``python -m app
serve``: uvicorn, one worker, on 127.0.0.1, ``API_AUTH=disabled`` so requests act as the
service, the Postgres transport with its default pool) against the bench cluster. The load is
wrk, 16 keep-alive connections on loopback (``-t2 -c16``), a random one of 1,000
conversations per request, the same distribution as pgbench's ``random(first, last)``;
pgbench runs the function the endpoint calls with 16 clients. Contenders alternate in rounds
(wrk, pgbench, wrk, pgbench...) so whatever else the machine does falls on both alike.

a. appends: ``POST /conversations/{id}/messages`` vs ``select public.append_message(...)``,
   the same content; goal >= 0.55 (issue 23); the API's CPU per append <= 1.6 x the floor's;
b. history reads: ``GET /conversations/{id}?limit=10`` vs ``select public.get_conversation(id,
   10)``, the function the endpoint calls, and vs ``select public.get_messages(id, 10)``, the
   issue's read function (the messages only); goal >= 0.3 against the first (issue 23), 0.25
   against the second (issue 3); the API's CPU per read <= 1.3 x the floor's;
c. memory: a fresh API process, appends and reads mixed half and half: resident memory
   (``VmRSS``) after 100k requests <= 150 MB, and growth from 50k to 100k requests <= 10%
   (quick mode: 10k and 20k).

The floor (issue 23) runs in the same rounds, on the same routes, under the same wrk scripts:
``bench.floor``'s bare Litestar app served by uvicorn with the API's server options, in three
modes: a constant answer of the API's size (``const``), the same after one pooled prepared
``select 1`` through psycopg_pool (``select1``, the issue's floor), and the same SQL call the
API's route makes, prepared, through the same pool, answering the database's JSON (``same``).
The CPU goals hold the API's CPU per request against ``same``: both then make the database do
the same work and run at the rate it allows, so the ratio is our layers alone (a process that
serves fewer requests per wake-up of its event loop spends more on each, so a floor running
at another rate would not compare). Every HTTP row prints its CPU per request and its ratio
to that floor, and the load average while it ran.

Every HTTP answer must be a 2xx (wrk counts the others; any is an error). While each
contender runs, the CPU it takes is read from /proc: the server process (the API or a floor),
the load generator (wrk or pgbench), and the rest of the machine (Postgres, and whatever else
runs), which tells who the bottleneck is on a small machine.

When a throughput goal is missed (or ``BENCH_PROFILE=1``; ``BENCH_PROFILE=0`` never), py-spy
samples the API while wrk repeats the workload, and the report lists where its time goes:
by package, the hottest functions (self time) and the widest frames (inclusive time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import data, pgbench, proc
from bench.api import Api
from bench.config import Config
from bench.data import Group, Layout
from bench.floor import Mode
from bench.load import WRK_THREAD_SEEDS, Load, combine, parse_wrk, run_wrk
from bench.pgbench import Run
from bench.profile import profile_api, wanted
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = [
    "APPEND_CPU_GOAL",
    "APPEND_GOAL",
    "GROWTH_GOAL",
    "MESSAGES_READ_GOAL",
    "READ_CPU_GOAL",
    "READ_GOAL",
    "RSS_GOAL",
    "run",
]

APPEND_GOAL = Goal(">=", 0.55)
READ_GOAL = Goal(">=", 0.3)  # against get_conversation, the function the route calls (issue 23)
MESSAGES_READ_GOAL = Goal(">=", 0.25)  # against get_messages (issue 3's read function)
RSS_GOAL = Goal("<=", 150, " MB")
GROWTH_GOAL = Goal("<=", 10, " %")
# The API's CPU per request over the floor's making the same SQL call (issue 23).
APPEND_CPU_GOAL = Goal("<=", 1.6, " x")
READ_CPU_GOAL = Goal("<=", 1.3, " x")
# The floors, as bench.floor serves them, in the order they run after the API.
FLOORS: dict[Mode, str] = {
    "same": "floor: the same SQL call",
    "select1": "floor: select 1 + constant",
    "const": "floor: constant answer",
}

CLIENTS = 16
CONVERSATIONS = 1_000
HISTORY = 50  # messages in each conversation the reads page through
READ_LIMIT = 10
# The message of bench/sql/append_function.sql: both sides store the same bytes.
CONTENT = "hello from pgbench: how long do you keep my conversations?"


# -- CPU accounting -----------------------------------------------------------------------------
@dataclass
class Cpu:
    """CPU seconds spent while a contender ran, summed over its rounds: by the server process
    (the API, or a floor), the load generator, the whole machine; and the load averages (1 min)
    at the end of each run."""

    wall: float = 0.0
    api: float = 0.0
    client: float = 0.0
    busy: float = 0.0
    loads: list[float] = field(default_factory=list)

    def measure(self, server: Api, step: Callable[[], object]) -> None:
        before = (time.monotonic(), server.cpu_seconds(), proc.children_cpu(), proc.machine_busy())
        step()
        self.wall += time.monotonic() - before[0]
        self.api += server.cpu_seconds() - before[1]
        self.client += proc.children_cpu() - before[2]
        self.busy += proc.machine_busy() - before[3]
        self.loads.append(os.getloadavg()[0])

    @property
    def load(self) -> str:
        return f"{min(self.loads):.1f}-{max(self.loads):.1f}" if self.loads else "-"

    def per_request_us(self, requests: int) -> float:
        return self.api / requests * 1e6 if requests else float("nan")

    def describe(self, client: str, requests: int = 0, server: str = "API") -> str:
        if not self.wall:
            return "-"
        api, own = self.api / self.wall, self.client / self.wall
        rest = max(0.0, self.busy / self.wall - api - own)
        text = f"{server} {api:.2f}, {client} {own:.2f}, rest (Postgres, others) {rest:.2f} cores"
        if requests:
            text += f"; {server} CPU per request {self.per_request_us(requests):.0f} us"
        return text + f"; load average {self.load}"


# -- wrk ----------------------------------------------------------------------------------------
_LUA_HEAD = (
    """
local append_first, append_last = {append_first}, {append_last}
local read_first, read_last = {read_first}, {read_last}
local append_share = {append_share}
local body = '{{"role":"user","content":"{content}"}}'
"""
    + WRK_THREAD_SEEDS
    + """function request()
  if math.random() < append_share then
    return wrk.format("POST", "/conversations/conv-" .. math.random(append_first, append_last)
      .. "/messages", {{["Content-Type"] = "application/json"}}, body)
  end
  return wrk.format("GET", "/conversations/conv-" .. math.random(read_first, read_last)
    .. "?limit={limit}")
end
"""
)


class Wrk:
    """wrk scripts for the three workloads over the bench's conversations."""

    def __init__(self, directory: Path, appends: Group, reads: Group, threads: int) -> None:
        self.threads = threads
        self.scripts: dict[str, Path] = {}
        for kind, share in (("append", 1.0), ("read", 0.0), ("mixed", 0.5)):
            script = directory / f"{kind}.lua"
            script.write_text(
                _LUA_HEAD.format(
                    append_first=appends.first,
                    append_last=appends.last,
                    read_first=reads.first,
                    read_last=reads.last,
                    append_share=share,
                    content=CONTENT,
                    limit=READ_LIMIT,
                )
            )
            self.scripts[kind] = script

    def command(self, base: str, kind: str, seconds: float) -> list[str]:
        return [
            "wrk",
            f"-t{self.threads}",
            f"-c{CLIENTS}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(self.scripts[kind]),
            base,
        ]

    def run(self, base: str, kind: str, seconds: float) -> Load:
        return run_wrk(self.command(base, kind, seconds))


# -- throughput, alternating with pgbench -------------------------------------------------------
@dataclass
class Contest:
    """Each HTTP server (the API, the floors) and each pgbench script of one comparison, over
    all rounds."""

    loads: dict[str, list[Load]]
    runs: dict[str, list[Run]]
    cpu: dict[str, Cpu]

    def http(self, server: str = "api") -> Load:
        return combine(self.loads[server])

    def pg(self, script: str) -> Run:
        return pgbench.combine(self.runs[script])

    def cpu_us(self, server: str) -> float:
        return self.cpu[server].per_request_us(self.http(server).requests)


def _contest(
    url: str,
    config: Config,
    servers: dict[str, Api],
    wrk: Wrk,
    kind: str,
    scripts: Sequence[str],
    group: Group,
) -> Contest:
    """Rounds of: wrk on every server (the API first), then every pgbench script."""
    rounds = 2 if config.duration >= 6 else 1
    seconds = config.duration / rounds
    api = servers["api"]
    contest = Contest(
        {n: [] for n in servers}, {s: [] for s in scripts}, {k: Cpu() for k in (*servers, *scripts)}
    )
    for _ in range(rounds):
        for name, server in servers.items():

            def load(name: str = name, server: Api = server) -> None:
                contest.loads[name].append(wrk.run(server.base, kind, seconds))

            contest.cpu[name].measure(server, load)
        for script in scripts:

            def bench(script: str = script) -> None:
                contest.runs[script].append(
                    pgbench.run(
                        url,
                        script,
                        clients=CLIENTS,
                        threads=config.threads,
                        duration=seconds,
                        defines=group.defines(),
                    )
                )

            contest.cpu[script].measure(api, bench)
    return contest


def _http_text(load: Load) -> str:
    return (
        f"{fmt_rate(load.rate, 'req/s'):>12}  p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms"
        f"  non-2xx {load.non_2xx}" + (f"  socket errors {load.socket_errors}" if load.socket_errors else "")
    )


def _pg_text(run: Run) -> str:
    return f"{fmt_rate(run.tps):>12}  avg {run.latency_avg_ms:.2f} ms"


def _servers_table(contest: Contest, route: str) -> None:
    """Every HTTP server's figures with its CPU per request and its ratio to the floor making
    the same SQL call."""
    floor_us = contest.cpu_us(FLOORS["same"]) if FLOORS["same"] in contest.loads else float("nan")
    line(
        f"{'server':<40} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} {'x floor':>7}  load avg"
    )
    for name in contest.loads:
        load, us = contest.http(name), contest.cpu_us(name)
        label = f"API {route}" if name == "api" else name
        line(
            f"{label:<40} {load.rate:8,.0f} {load.p50_ms:7.2f} {load.p99_ms:7.2f} {us:10.0f}"
            f" {us / floor_us:7.2f}  {contest.cpu[name].load}"
            + (f"  non-2xx {load.non_2xx}" if load.non_2xx else "")
        )


def _cpu_outcome(name: str, contest: Contest, goal: Goal) -> Outcome:
    """The API's CPU per request (user + system, all its threads, while wrk ran) over the
    floor's making the same SQL call; the other floors in the figures."""
    api = contest.http("api")
    api_us = contest.cpu_us("api")
    floors = {mode: contest.cpu_us(label) for mode, label in FLOORS.items() if label in contest.loads}
    same = floors.get("same", float("nan"))
    others = ", ".join(f"{mode} {us:.0f}" for mode, us in floors.items() if mode != "same")
    errors = api.errors + sum(
        contest.http(label).errors for label in FLOORS.values() if label in contest.loads
    )
    return Outcome(
        name=name,
        figures=f"{api_us:.0f} vs {same:.0f} us/req (floors {others}); load {contest.cpu['api'].load}",
        value=api_us / same,
        goal=goal,
        value_text=f"{api_us / same:.2f} x",
        error=f"{errors} HTTP requests failed" if errors else None,
    )


def _ratio_outcome(name: str, contest: Contest, script: str, goal: Goal) -> Outcome:
    load, run = contest.http("api"), contest.pg(script)
    errors = load.errors
    return Outcome(
        name=name,
        figures=f"{fmt_rate(load.rate, 'req/s')} vs {fmt_rate(run.tps)}; load {contest.cpu['api'].load}",
        value=load.rate / run.tps if run.tps else float("nan"),
        goal=goal,
        error=f"{errors} HTTP requests failed (non-2xx {load.non_2xx})" if errors else None,
    )


# -- profile ------------------------------------------------------------------------------------
def _profile(api: Api, wrk: Wrk, kind: str, seconds: float, label: str) -> list[str]:
    """py-spy on the API while wrk runs ``kind``; the summary lines (also printed)."""

    def load(duration: float) -> float | None:
        command = wrk.command(api.base, kind, duration)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return parse_wrk(done.stdout).rate if done.returncode == 0 else None

    return profile_api(api.pid, load, seconds, label, tag=kind)


# -- memory -------------------------------------------------------------------------------------
def _memory(url: str, wrk: Wrk, checkpoints: tuple[int, int]) -> list[Outcome]:
    """A fresh API: RSS after ``checkpoints`` requests, appends and reads half and half."""
    first, second = checkpoints
    api = Api(url)
    try:
        api.wait()
        line(f"fresh API process {api.pid}: {api.rss_mb():.1f} MB resident once /health answered")
        sent = 0
        errors = 0
        rss: dict[int, tuple[int, float]] = {}
        rate = 2_000.0  # a first guess, replaced by what wrk measures
        for target in (first, second):
            while sent < target:
                # Slightly past the target, in runs of at most 20 s (the count is wrk's).
                seconds = min(20.0, max(1.0, (target - sent) / rate + 0.5))
                load = wrk.run(api.base, "mixed", seconds)
                sent += load.requests
                errors += load.errors
                rate = max(load.rate, 100.0)
            rss[target] = (sent, api.rss_mb())
            figure(f"after {sent:,} requests", f"{rss[target][1]:.1f} MB resident")
        line(f"HTTP requests failed: {errors}" + ("" if not errors else "  <- an error is a bug"))
    finally:
        api.stop()
    rss_1, (sent_2, rss_2) = rss[first][1], rss[second]
    growth = 100 * (rss_2 - rss_1) / rss_1
    error = f"{errors} HTTP requests failed" if errors else None
    outcomes = [
        Outcome(
            name=f"7c API RSS after {second // 1000}k requests",
            figures=f"{sent_2:,} requests, half appends, half reads",
            value=rss_2,
            goal=RSS_GOAL,
            value_text=f"{rss_2:.1f} MB",
            error=error,
        ),
        Outcome(
            name=f"7d API RSS growth {first // 1000}k->{second // 1000}k",
            figures=f"{rss_1:.1f} -> {rss_2:.1f} MB",
            value=growth,
            goal=GROWTH_GOAL,
            value_text=f"{growth:+.1f} %",
            error=error,
        ),
    ]
    for outcome in outcomes:
        verdict_line(outcome)
    return outcomes


# -- the benchmark ------------------------------------------------------------------------------
def run(url: str, config: Config, layout: Layout) -> list[Outcome]:
    """Loads its conversations (from ``layout``), serves the API, measures; stops the API."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found: install it (make deps)")
    section("7. HTTP API vs pgbench running the function each endpoint calls")
    appends = layout.group("http-append", CONVERSATIONS, 0)
    reads = layout.group("http-read", CONVERSATIONS, HISTORY)
    seconds = data.load(url, [appends, reads])
    rounds = 2 if config.duration >= 6 else 1
    line(
        f"{appends.count:,} conversations to append to, {reads.count:,} of {reads.messages} messages "
        f"to read, loaded in {seconds:.1f} s; a random one per request or transaction"
    )
    line(
        f"python -m app serve: uvicorn, 1 worker, API_AUTH=disabled, Postgres transport, default pool; "
        f"wrk -t{config.threads} -c{CLIENTS} keep-alive vs pgbench -M prepared -c{CLIENTS} "
        f"-j{config.threads}; {rounds} round(s) alternating, {config.duration:g} s per contender"
    )
    line(
        f"floors (bench.floor, the API's uvicorn options): {', '.join(FLOORS.values())}; "
        f"each in every round, after the API"
    )
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        wrk = Wrk(Path(tmp), appends, reads, config.threads)
        servers = {"api": Api(url)}
        sample = f"conv-{reads.first}"  # the floors' constant answers are this conversation's
        for mode, label in FLOORS.items():
            servers[label] = Api(url, ("-m", "bench.floor", "--mode", mode, "--sample", sample))
        api = servers["api"]
        try:
            for server in servers.values():
                server.wait()
                for kind in ("append", "read"):  # warm-up: the pool's connections, prepared statements
                    wrk.run(server.base, kind, 2)

            line("a. appends")
            contest = _contest(url, config, servers, wrk, "append", ["append_function.sql"], appends)
            http, fn = contest.http(), contest.pg("append_function.sql")
            figure("POST /conversations/{id}/messages (wrk)", _http_text(http))
            figure("select public.append_message(...) (pgbench)", _pg_text(fn))
            _servers_table(contest, "POST .../messages")
            line(f"CPU during wrk: {contest.cpu['api'].describe('wrk', http.requests)}")
            line(f"CPU during pgbench: {contest.cpu['append_function.sql'].describe('pgbench')}")
            append = _ratio_outcome(
                f"7a HTTP appends / pgbench fn ({CLIENTS} cl.)", contest, "append_function.sql", APPEND_GOAL
            )
            append_cpu = _cpu_outcome("7a API CPU per append / floor", contest, APPEND_CPU_GOAL)
            outcomes += [append, append_cpu]
            verdict_line(append)
            verdict_line(append_cpu)

            line(f"b. history reads (limit {READ_LIMIT})")
            scripts = ["read_conversation.sql", "read_function.sql"]
            contest = _contest(url, config, servers, wrk, "read", scripts, reads)
            http = contest.http()
            same, messages = contest.pg(scripts[0]), contest.pg(scripts[1])
            figure(f"GET /conversations/{{id}}?limit={READ_LIMIT} (wrk)", _http_text(http))
            figure(f"select public.get_conversation(id, {READ_LIMIT}) (pgbench)", _pg_text(same))
            figure(f"select public.get_messages(id, {READ_LIMIT}) (pgbench)", _pg_text(messages))
            _servers_table(contest, f"GET ...?limit={READ_LIMIT}")
            line(f"CPU during wrk: {contest.cpu['api'].describe('wrk', http.requests)}")
            for script in scripts:
                line(f"CPU during pgbench {script}: {contest.cpu[script].describe('pgbench')}")
            read_same = _ratio_outcome(
                f"7b HTTP reads / pgbench get_conversation ({CLIENTS} cl.)", contest, scripts[0], READ_GOAL
            )
            read_messages = _ratio_outcome(
                f"7b HTTP reads / pgbench get_messages ({CLIENTS} cl.)",
                contest,
                scripts[1],
                MESSAGES_READ_GOAL,
            )
            read_cpu = _cpu_outcome("7b API CPU per read / floor", contest, READ_CPU_GOAL)
            outcomes += [read_same, read_messages, read_cpu]
            verdict_line(read_same)
            verdict_line(read_messages)
            verdict_line(read_cpu)

            line(f"API process after these runs: {api.rss_mb():.1f} MB resident")
            candidates = [
                ("append", "appends through HTTP", [append, append_cpu]),
                ("read", "reads through HTTP", [read_same, read_messages, read_cpu]),
            ]
            for kind, label, results in candidates:
                if wanted(config.profile, results):
                    _profile(api, wrk, kind, 3.0 if config.quick else 10.0, label)
        finally:
            for server in servers.values():
                server.stop()

        line("c. memory: a fresh API process, appends and reads mixed")
        checkpoints = (10_000, 20_000) if config.quick else (50_000, 100_000)
        try:
            outcomes += _memory(url, wrk, checkpoints)
        except (RuntimeError, OSError) as exc:  # the throughput figures above still stand
            line(f"ERROR: {exc}")
            outcomes.append(
                Outcome.failed(f"7c API RSS after {checkpoints[1] // 1000}k requests", RSS_GOAL, str(exc))
            )
    return outcomes
