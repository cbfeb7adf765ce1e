"""Benchmark 7: the HTTP API against pgbench running the functions it calls, in the same run.

Issue 3's performance section. The API is served as ``make run`` serves it (``python -m app
serve``: uvicorn, one worker, on 127.0.0.1, ``API_AUTH=disabled`` so requests act as the
service, the Postgres transport with its default pool) against the bench cluster. The load is
wrk, 16 keep-alive connections on loopback (``-t2 -c16``), a random one of 1,000
conversations per request, the same distribution as pgbench's ``random(first, last)``;
pgbench runs the function the endpoint calls with 16 clients. Contenders alternate in rounds
(wrk, pgbench, wrk, pgbench...) so whatever else the machine does falls on both alike.

a. appends: ``POST /conversations/{id}/messages`` vs ``select public.append_message(...)``,
   the same content; goal >= 0.5; the API's CPU per append <= 200 us;
b. history reads: ``GET /conversations/{id}?limit=10`` vs ``select public.get_conversation(id,
   10)``, the function the endpoint calls, and vs ``select public.get_messages(id, 10)``, the
   issue's read function (the messages only); goal >= 0.25 for both; the API's CPU per read
   <= 200 us;
c. memory: a fresh API process, appends and reads mixed half and half: resident memory
   (``VmRSS``) after 100k requests <= 150 MB, and growth from 50k to 100k requests <= 10%
   (quick mode: 10k and 20k).

Every HTTP answer must be a 2xx (wrk counts the others; any is an error). While each
contender runs, the CPU it takes is read from /proc: the API process, the load generator
(wrk or pgbench), and the rest of the machine (Postgres, and whatever else runs), which tells
who the bottleneck is on a small machine.

When a throughput goal is missed (or ``BENCH_PROFILE=1``; ``BENCH_PROFILE=0`` never), py-spy
samples the API while wrk repeats the workload, and the report lists where its time goes:
by package, the hottest functions (self time) and the widest frames (inclusive time).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import data, pgbench, proc
from bench.api import Api
from bench.config import Config
from bench.data import Group, Layout
from bench.load import Load, combine, parse_wrk, run_wrk
from bench.pgbench import Run
from bench.profile import profile_api, wanted
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, verdict_line

__all__ = ["APPEND_GOAL", "CPU_GOAL", "GROWTH_GOAL", "READ_GOAL", "RSS_GOAL", "run"]

APPEND_GOAL = Goal(">=", 0.5)
READ_GOAL = Goal(">=", 0.25)
RSS_GOAL = Goal("<=", 150, " MB")
GROWTH_GOAL = Goal("<=", 10, " %")
CPU_GOAL = Goal("<=", 200, " us")

CLIENTS = 16
CONVERSATIONS = 1_000
HISTORY = 50  # messages in each conversation the reads page through
READ_LIMIT = 10
# The message of bench/sql/append_function.sql: both sides store the same bytes.
CONTENT = "hello from pgbench: how long do you keep my conversations?"


# -- CPU accounting -----------------------------------------------------------------------------
@dataclass
class Cpu:
    """CPU seconds spent while a contender ran, summed over its rounds."""

    wall: float = 0.0
    api: float = 0.0
    client: float = 0.0
    busy: float = 0.0

    def measure(self, api: Api, step: Callable[[], object]) -> None:
        before = (time.monotonic(), api.cpu_seconds(), proc.children_cpu(), proc.machine_busy())
        step()
        self.wall += time.monotonic() - before[0]
        self.api += api.cpu_seconds() - before[1]
        self.client += proc.children_cpu() - before[2]
        self.busy += proc.machine_busy() - before[3]

    def describe(self, client: str, requests: int = 0) -> str:
        if not self.wall:
            return "-"
        api, own = self.api / self.wall, self.client / self.wall
        rest = max(0.0, self.busy / self.wall - api - own)
        text = f"API {api:.2f}, {client} {own:.2f}, rest (Postgres, others) {rest:.2f} cores"
        if requests:
            text += f"; API CPU per request {self.api / requests * 1e6:.0f} us"
        return text


# -- wrk ----------------------------------------------------------------------------------------
_LUA_HEAD = """
local append_first, append_last = {append_first}, {append_last}
local read_first, read_last = {read_first}, {read_last}
local append_share = {append_share}
local body = '{{"role":"user","content":"{content}"}}'
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end
function request()
  if math.random() < append_share then
    return wrk.format("POST", "/conversations/conv-" .. math.random(append_first, append_last)
      .. "/messages", {{["Content-Type"] = "application/json"}}, body)
  end
  return wrk.format("GET", "/conversations/conv-" .. math.random(read_first, read_last)
    .. "?limit={limit}")
end
"""


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
    """The HTTP side and each pgbench script of one comparison, over all rounds."""

    loads: list[Load]
    runs: dict[str, list[Run]]
    cpu: dict[str, Cpu]

    @property
    def http(self) -> Load:
        return combine(self.loads)

    def pg(self, script: str) -> Run:
        return pgbench.combine(self.runs[script])


def _contest(
    url: str,
    config: Config,
    api: Api,
    wrk: Wrk,
    kind: str,
    scripts: Sequence[str],
    group: Group,
) -> Contest:
    rounds = 2 if config.duration >= 6 else 1
    seconds = config.duration / rounds
    contest = Contest([], {s: [] for s in scripts}, {k: Cpu() for k in ("http", *scripts)})
    for _ in range(rounds):
        contest.cpu["http"].measure(api, lambda: contest.loads.append(wrk.run(api.base, kind, seconds)))
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


def _cpu_outcome(name: str, load: Load, cpu: Cpu) -> Outcome:
    """The API's CPU per request while wrk ran (user + system, all its threads)."""
    per_request = cpu.api / load.requests * 1e6 if load.requests else float("nan")
    return Outcome(
        name=name,
        figures=f"{cpu.api:.2f} CPU s over {load.requests:,} requests",
        value=per_request,
        goal=CPU_GOAL,
        value_text=f"{per_request:.0f} us",
        error=f"{load.errors} HTTP requests failed" if load.errors else None,
    )


def _ratio_outcome(name: str, load: Load, run: Run, goal: Goal) -> Outcome:
    errors = load.errors
    return Outcome(
        name=name,
        figures=f"{fmt_rate(load.rate, 'req/s')} vs {fmt_rate(run.tps)}",
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
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        wrk = Wrk(Path(tmp), appends, reads, config.threads)
        api = Api(url)
        try:
            api.wait()
            for kind in ("append", "read"):  # warm-up: the pool's connections, prepared statements
                wrk.run(api.base, kind, 2)

            line("a. appends")
            contest = _contest(url, config, api, wrk, "append", ["append_function.sql"], appends)
            http, fn = contest.http, contest.pg("append_function.sql")
            figure("POST /conversations/{id}/messages (wrk)", _http_text(http))
            figure("select public.append_message(...) (pgbench)", _pg_text(fn))
            line(f"CPU during wrk: {contest.cpu['http'].describe('wrk', http.requests)}")
            line(f"CPU during pgbench: {contest.cpu['append_function.sql'].describe('pgbench')}")
            append = _ratio_outcome(f"7a HTTP appends / pgbench fn ({CLIENTS} cl.)", http, fn, APPEND_GOAL)
            append_cpu = _cpu_outcome("7a API CPU per append", http, contest.cpu["http"])
            outcomes += [append, append_cpu]
            verdict_line(append)
            verdict_line(append_cpu)

            line(f"b. history reads (limit {READ_LIMIT})")
            scripts = ["read_conversation.sql", "read_function.sql"]
            contest = _contest(url, config, api, wrk, "read", scripts, reads)
            http = contest.http
            same, messages = contest.pg(scripts[0]), contest.pg(scripts[1])
            figure(f"GET /conversations/{{id}}?limit={READ_LIMIT} (wrk)", _http_text(http))
            figure(f"select public.get_conversation(id, {READ_LIMIT}) (pgbench)", _pg_text(same))
            figure(f"select public.get_messages(id, {READ_LIMIT}) (pgbench)", _pg_text(messages))
            line(f"CPU during wrk: {contest.cpu['http'].describe('wrk', http.requests)}")
            for script in scripts:
                line(f"CPU during pgbench {script}: {contest.cpu[script].describe('pgbench')}")
            read_same = _ratio_outcome(
                f"7b HTTP reads / pgbench get_conversation ({CLIENTS} cl.)", http, same, READ_GOAL
            )
            read_messages = _ratio_outcome(
                f"7b HTTP reads / pgbench get_messages ({CLIENTS} cl.)", http, messages, READ_GOAL
            )
            read_cpu = _cpu_outcome("7b API CPU per read", http, contest.cpu["http"])
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
            api.stop()

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
