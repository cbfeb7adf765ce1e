"""Benchmark: the OpenAI-compatible API through the official openai SDK against the native API.

Two pairs, each in the same run against the same server (``make run``'s shape: uvicorn, one
worker, offline provider), 16 concurrent clients in this process:

* ``client.conversations.items.create`` (one item) vs ``POST /conversations/{id}/messages``;
* ``client.responses.create(conversation=..., truncation="auto")`` vs ``POST /chat`` (both the
  token window, two store calls a turn; `disabled`, the default, adds a `context_fits` call).

The native side is driven with httpx, the /v1 side with ``AsyncOpenAI`` (its own httpx2 client,
pydantic models), both sending the Supabase CLI's local service key as bearer token. The SDK's
own client cost (building and parsing its models) runs on the same cores as the server, so the
ratio is what a Python service would see; the /v1 routes driven with raw httpx are measured too,
which isolates the server's share. Rounds alternate the workloads so a neighbour loading the
machine affects every side alike. Goal: each SDK ratio >= 0.8.

Each workload's line carries the API process's CPU per request, read from /proc while it ran
(the clients' CPU, the SDK's included, is this process's and not counted). When an SDK ratio
misses its goal (or ``BENCH_PROFILE=1``; ``0`` never), py-spy samples the API while the SDK
workload runs again (bench/profile.py), and the report lists where its time goes.

Standalone: ``python -m bench.openai_api`` (``BENCH_QUICK=1`` for a short run) builds its own
throwaway cluster on ``BENCH_PORT`` (54330) and removes it afterwards. From the runner:
``BENCH_ONLY=openai``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import msgspec
import psycopg
from openai import AsyncOpenAI

from app.config import LOCAL_SERVICE_ROLE_KEY
from bench.api import Api
from bench.chat import APPEND_PREFIX, CHAT_PREFIX, CLIENTS, MESSAGE, Plan, chat_api, prepare
from bench.cluster import BenchCluster
from bench.config import Config
from bench.profile import profile_api, wanted
from bench.report import Goal, Outcome, figure, fmt_rate, line, section, summary, verdict_line

__all__ = ["GOAL", "main", "run"]

GOAL = Goal(">=", 0.8)
HEADERS = {"Authorization": f"Bearer {LOCAL_SERVICE_ROLE_KEY}", "content-type": "application/json"}

_json = msgspec.json.Encoder()

Call = Callable[[int], Awaitable[object]]


async def _load(call: Call, seconds: float) -> tuple[int, int, float]:
    """CLIENTS tasks calling `call(i)` for `seconds`: (successes, failures, wall seconds)."""
    done = failed = 0
    began = time.perf_counter()
    deadline = began + seconds

    async def client(k: int) -> None:
        nonlocal done, failed
        i = k * 7919
        while time.perf_counter() < deadline:
            i += 1
            try:
                await call(i)
                done += 1
            except Exception:
                failed += 1

    await asyncio.gather(*(client(k) for k in range(CLIENTS)))
    return done, failed, time.perf_counter() - began


@dataclass
class Tally:
    """One workload over all rounds; ``api_cpu``: the API process's CPU seconds meanwhile."""

    ok: int = 0
    failed: int = 0
    wall: float = 0.0
    api_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else float("nan")

    @property
    def cpu_us(self) -> float:
        """The API's CPU per request, in microseconds."""
        return self.api_cpu / self.ok * 1e6 if self.ok else float("nan")


@asynccontextmanager
async def _workloads(base: str, plan: Plan) -> AsyncIterator[dict[str, Call]]:
    """Each workload's call, with the clients it goes through (open while the context is)."""
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    n = plan.conversations

    def cid(prefix: str, i: int) -> str:
        return f"{prefix}{i % n + 1}"

    async with (
        httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0, headers=HEADERS) as http,
        AsyncOpenAI(base_url=f"{base}/v1", api_key=LOCAL_SERVICE_ROLE_KEY, max_retries=0, timeout=30) as sdk,
    ):

        async def post(path: str, body: object) -> None:
            response = await http.post(path, content=_json.encode(body))
            if response.status_code >= 300:
                raise RuntimeError(response.text)

        item = {"type": "message", "role": "user", "content": MESSAGE}
        yield {
            "append": lambda i: post(
                f"/conversations/{cid(APPEND_PREFIX, i)}/messages", {"role": "user", "content": MESSAGE}
            ),
            "items.create": lambda i: sdk.conversations.items.create(cid(APPEND_PREFIX, i), items=[item]),
            "items (httpx)": lambda i: post(
                f"/v1/conversations/{cid(APPEND_PREFIX, i)}/items", {"items": [item]}
            ),
            "chat": lambda i: post("/chat", {"message": MESSAGE, "conversation_id": cid(CHAT_PREFIX, i)}),
            "responses.create": lambda i: sdk.responses.create(
                model="offline", input=MESSAGE, conversation=cid(CHAT_PREFIX, i), truncation="auto"
            ),
            "responses (httpx)": lambda i: post(
                "/v1/responses",
                {
                    "model": "offline",
                    "input": MESSAGE,
                    "conversation": cid(CHAT_PREFIX, i),
                    "truncation": "auto",
                },
            ),
        }


async def _measure(server: Api, plan: Plan) -> dict[str, Tally]:
    async with _workloads(server.base, plan) as workloads:
        for call in workloads.values():  # warm-up: connections, prepared statements, caches
            await _load(call, 0.5)
        totals = {name: Tally() for name in workloads}
        for _ in range(plan.rounds):
            for name, call in workloads.items():
                cpu = server.cpu_seconds()
                ok, bad, wall = await _load(call, plan.duration)
                tally = totals[name]
                tally.api_cpu += server.cpu_seconds() - cpu
                tally.ok += ok
                tally.failed += bad
                tally.wall += wall
    return totals


def _profile(server: Api, plan: Plan, name: str, seconds: float) -> None:
    """py-spy on the API while workload ``name`` runs as in the measured rounds."""

    async def measure(duration: float) -> float:
        async with _workloads(server.base, plan) as workloads:
            ok, _, wall = await _load(workloads[name], duration)
        return ok / wall

    def load(duration: float) -> float | None:
        try:
            return asyncio.run(measure(duration))
        except (RuntimeError, httpx.HTTPError) as exc:
            line(f"the load during the profile failed: {exc}")
            return None

    profile_api(server.pid, load, seconds, f"SDK {name}", tag=name.split(".")[0])


def run(url: str, config: Config) -> list[Outcome]:
    plan = Plan.from_config(config)
    section("openai: the /v1 API through the openai SDK vs the native API, through HTTP")
    line(
        f"uvicorn, 1 worker, offline provider; {CLIENTS} concurrent clients in one process "
        f"(httpx for the native routes, AsyncOpenAI for /v1); {plan.rounds} round(s) of "
        f"{plan.duration:g} s per workload, alternating; one of {plan.conversations:,} conversations per call"
    )
    prepare(url, plan.conversations)
    server = chat_api(url)
    outcomes: list[Outcome] = []
    try:
        server.wait()
        totals = asyncio.run(_measure(server, plan))
        rates = {name: tally.rate for name, tally in totals.items()}
        for name, tally in totals.items():
            figure(
                name,
                f"{fmt_rate(tally.rate, 'req/s'):>12}  {tally.ok:,} ok, {tally.failed} failed"
                f"  API CPU per request {tally.cpu_us:.0f} us",
            )
        errors = sum(tally.failed for tally in totals.values())
        profiles: list[str] = []
        for sdk_name, raw_name, native in (
            ("items.create", "items (httpx)", "append"),
            ("responses.create", "responses (httpx)", "chat"),
        ):
            outcome = Outcome(
                name=f"SDK {sdk_name} / native {native} ({CLIENTS} cl.)",
                figures=f"{fmt_rate(rates[sdk_name], 'req/s')} vs {fmt_rate(rates[native], 'req/s')}",
                value=rates[sdk_name] / rates[native],
                goal=GOAL,
                error=f"{errors} requests failed" if errors else None,
            )
            verdict_line(outcome)
            if wanted(config.profile, [outcome]):
                profiles.append(sdk_name)
            outcomes.append(outcome)
            outcomes.append(
                Outcome(
                    name=f"/v1 {raw_name} / native {native}",
                    figures="the server's share: the same /v1 route without the SDK",
                    value=rates[raw_name] / rates[native],
                    goal=None,
                )
            )
        # The API's side of the SDK's calls (the SDK's own cost is this process's).
        for sdk_name in profiles:
            _profile(server, plan, sdk_name, 3.0 if config.quick else 10.0)
    finally:
        server.stop()
    return outcomes


def main() -> int:
    """Builds its own throwaway cluster, runs, prints the summary; exit 1 only on errors."""
    config = Config.from_env()
    cluster = BenchCluster(config.port, name="benchopenai")
    started = time.monotonic()
    print(f"starting the openai bench cluster on port {config.port} ...", flush=True)
    outcomes: list[Outcome] = []
    try:
        url = cluster.start()
        line(f"cores: {os.cpu_count()}; {'quick' if config.quick else 'full'} mode")
        outcomes = run(url, config)
    except (RuntimeError, psycopg.Error, httpx.HTTPError) as exc:
        line(f"ERROR: {exc}")
        outcomes.append(Outcome.failed("openai", GOAL, str(exc)))
    finally:
        if not config.keep:
            cluster.stop(wipe=True)
    summary(outcomes)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 1 if any(o.verdict == "ERROR" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
