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

Standalone: ``python -m bench.openai_api`` (``BENCH_QUICK=1`` for a short run) builds its own
throwaway cluster on ``BENCH_PORT`` (54330) and removes it afterwards. From the runner:
``BENCH_ONLY=openai``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import httpx
import msgspec
import psycopg
from openai import AsyncOpenAI

from app.config import LOCAL_SERVICE_ROLE_KEY
from bench.chat import APPEND_PREFIX, CHAT_PREFIX, CLIENTS, MESSAGE, Plan, Server, prepare
from bench.cluster import BenchCluster
from bench.config import Config
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


async def _measure(base: str, plan: Plan) -> dict[str, tuple[int, int, float]]:
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
        workloads: dict[str, Call] = {
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
        for call in workloads.values():  # warm-up: connections, prepared statements, caches
            await _load(call, 0.5)
        totals = dict.fromkeys(workloads, (0, 0, 0.0))
        for _ in range(plan.rounds):
            for name, call in workloads.items():
                ok, bad, wall = await _load(call, plan.duration)
                before = totals[name]
                totals[name] = (before[0] + ok, before[1] + bad, before[2] + wall)
    return totals


def run(url: str, config: Config) -> list[Outcome]:
    plan = Plan.from_config(config)
    section("openai: the /v1 API through the openai SDK vs the native API, through HTTP")
    line(
        f"uvicorn, 1 worker, offline provider; {CLIENTS} concurrent clients in one process "
        f"(httpx for the native routes, AsyncOpenAI for /v1); {plan.rounds} round(s) of "
        f"{plan.duration:g} s per workload, alternating; one of {plan.conversations:,} conversations per call"
    )
    prepare(url, plan.conversations)
    server = Server(url)
    try:
        server.wait()
        totals = asyncio.run(_measure(server.base, plan))
    finally:
        server.stop()
    rates = {name: ok / wall for name, (ok, _, wall) in totals.items()}
    for name, (ok, bad, _) in totals.items():
        figure(name, f"{fmt_rate(rates[name], 'req/s'):>12}  {ok:,} ok, {bad} failed")
    errors = sum(bad for _, bad, _ in totals.values())
    outcomes = []
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
        outcomes.append(outcome)
        outcomes.append(
            Outcome(
                name=f"/v1 {raw_name} / native {native}",
                figures="the server's share: the same /v1 route without the SDK",
                value=rates[raw_name] / rates[native],
                goal=None,
            )
        )
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
