"""Micro-benchmark of the Postgres transport: calls/s of one append with the PostgREST security
context, against a bare autocommit `select public.append_message(...)` through the same pool.

    .venv/bin/python -m bench.store_transport [--seconds 3] [--rounds 5] [--tasks 16] [--pooler]

Every variant runs `--tasks` concurrent tasks, each appending to its own conversation, for
`--seconds`, in `--rounds` interleaved rounds. Prints per variant the median calls/s and its
ratio to `bare`, and the CPU time one call costs in this process and in the Postgres backends
(read from /proc when the server runs on this host): on a shared machine calls/s moves with
whatever else runs, CPU per call much less. Point DATABASE_URL at a throwaway cluster
(`STACK_PORT=54341 STACK_NAME=store-bench scripts/stack.sh up`) to keep other tests' locks out.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from psycopg_pool import AsyncConnectionPool

from app.config import LOCAL_DATABASE_URL
from app.store import SERVICE, ConversationManager, Principal
from app.store.postgres import PostgresTransport
from bench import proc

CALL = (
    b"select public.append_message(p_conversation_id => %s::text, p_role => %s::text,"
    b" p_content => %s::text)::text"
)
CONTEXT = (
    b"select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    b" set_config('statement_timeout', %s, true)"
)
READ = b"select public.get_messages(p_conversation_id => %s::text, p_limit => %s::integer)::text"

Variant = Callable[[str], Awaitable[object]]


def variants(pool: AsyncConnectionPool) -> dict[str, Variant]:
    """Every context variant appends one message as the service; `read:` rows read ten."""
    pipeline, simple = PostgresTransport(pool), PostgresTransport(pool, protocol="simple")
    local = PostgresTransport(pool, transaction_pooler=True)
    manager = ConversationManager(pipeline)
    # Two principals whose contexts differ (the claims), so that every call switches.
    service_a, service_b = Principal("service_role", {"n": 1}), Principal("service_role", {"n": 2})
    turn = itertools.count()
    context = (SERVICE.role, SERVICE.claims_json, None)

    async def bare(cid: str) -> object:
        async with pool.connection() as conn:
            cur = await conn.execute(CALL, (cid, "user", "hello"))
            return await cur.fetchone()

    async def separate_statements(cid: str) -> object:
        """BEGIN, context, call, COMMIT: four round trips (what a naive port does)."""
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(CONTEXT, context)
            cur = await conn.execute(CALL, (cid, "user", "hello"))
            return await cur.fetchone()

    async def pipeline_begin_commit(cid: str) -> object:
        """One round trip with an explicit transaction block (needs a ROLLBACK after errors)."""
        async with pool.connection() as conn:
            cur = conn.cursor()
            async with conn.pipeline():
                await conn.execute(b"begin")
                await cur.execute(CONTEXT, context)
                await cur.execute(CALL, (cid, "user", "hello"))
                await conn.execute(b"commit")
            return await cur.fetchone()

    def call(transport: PostgresTransport, *, alternate: bool = False) -> Variant:
        async def append(cid: str) -> object:
            args = {"p_conversation_id": cid, "p_role": "user", "p_content": "hello"}
            principal = (service_a if next(turn) % 2 else service_b) if alternate else SERVICE
            return await transport.call("append_message", args, principal)

        return append

    def read(transport: PostgresTransport) -> Variant:  # as the service, every call
        async def get_messages(cid: str) -> object:
            return await transport.call("get_messages", {"p_conversation_id": cid, "p_limit": 10}, SERVICE)

        return get_messages

    async def manager_add_message(cid: str) -> object:
        return await manager.add_message(cid, "user", "hello")

    async def bare_read(cid: str) -> object:
        async with pool.connection() as conn:
            cur = await conn.execute(READ, (cid, 10))
            return await cur.fetchone()

    return {
        "bare": bare,
        "separate_statements": separate_statements,
        "pipeline_begin_commit": pipeline_begin_commit,
        "transport (the default: session context)": call(pipeline),
        "transport, principals alternating": call(pipeline, alternate=True),
        "transport, transaction-local (pooler)": call(local),
        "transport simple (one Query message)": call(simple),
        "manager.add_message": manager_add_message,
        "read: bare": bare_read,
        "read: transport": read(pipeline),
        "read: transport, transaction-local": read(local),
        "read: transport simple": read(simple),
    }


class Sample(NamedTuple):
    calls_per_s: float
    client_us: float  # this process's CPU per call
    server_us: float | None  # the backends' CPU per call


def backend_cpu(pids: list[int]) -> float | None:
    """User + system CPU seconds of the backends so far, or None when they are not local."""
    total = sum(proc.process_cpu(pid) for pid in pids)
    return None if math.isnan(total) else total


async def measure(fn: Variant, ids: list[str], seconds: float, pids: list[int]) -> Sample:
    stop = time.perf_counter() + seconds
    counts = [0] * len(ids)

    async def worker(i: int) -> None:
        while time.perf_counter() < stop:
            try:
                await fn(ids[i])
            except Exception as exc:  # the database may be busy; report, don't stop
                print(f"  error: {type(exc).__name__}: {exc}".splitlines()[0], flush=True)
                continue
            counts[i] += 1

    server0, client0, start = backend_cpu(pids), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(len(ids))))
    elapsed, client, server = time.perf_counter() - start, time.process_time() - client0, backend_cpu(pids)
    calls = max(sum(counts), 1)
    server_us = (server - server0) / calls * 1e6 if server is not None and server0 is not None else None
    return Sample(calls / elapsed, client / calls * 1e6, server_us)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--pooler", action="store_true", help="prepare_threshold=None, as behind Supavisor")
    opts = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    pool = AsyncConnectionPool(
        os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL),
        min_size=opts.tasks,
        max_size=opts.tasks,
        open=False,
        kwargs={
            "autocommit": True,
            "prepare_threshold": None if opts.pooler else 5,
            "application_name": f"store-bench-{run}",
        },
    )
    await pool.open(wait=True)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "select current_setting('synchronous_commit'),"
            " array(select pid from pg_stat_activity where application_name = %s)",
            (f"store-bench-{run}",),
        )
        sync_commit, pids = await cur.fetchone() or ("?", [])
    transport = PostgresTransport(pool)
    manager = ConversationManager(transport)
    ids = [
        (await manager.create_conversation(conversation_id=f"bench-{run}-{i}")).conversation_id
        for i in range(opts.tasks)
    ]
    table = variants(pool)
    results: dict[str, list[Sample]] = {name: [] for name in table}
    try:
        for fn in table.values():  # warm up: connections, prepared statements, caches
            await measure(fn, ids, 0.5, pids)
        for r in range(opts.rounds):
            for name, fn in table.items():
                results[name].append(await measure(fn, ids, opts.seconds, pids))
            print(f"round {r + 1}: " + ", ".join(f"{n}={v[-1].calls_per_s:.0f}" for n, v in results.items()))
    finally:
        for cid in ids:
            await manager.delete_conversation(cid)
        await pool.close()

    print(
        f"\n{opts.tasks} tasks, {opts.seconds:g}s x {opts.rounds} rounds, prepare_threshold="
        f"{'None' if opts.pooler else 5}, synchronous_commit={sync_commit}; medians"
    )
    print(f"  {'variant':<40} {'calls/s':>8} {'ratio':>6} {'client us/call':>15} {'server us/call':>15}")
    for name, samples in results.items():
        base = results["read: bare" if name.startswith("read") else "bare"]
        rate = statistics.median(s.calls_per_s for s in samples)
        ratio = rate / statistics.median(s.calls_per_s for s in base)
        client = statistics.median(s.client_us for s in samples)
        server_values = [s.server_us for s in samples if s.server_us is not None]
        server = f"{statistics.median(server_values):15.0f}" if server_values else f"{'n/a':>15}"
        print(f"  {name:<40} {rate:8.0f} {ratio:6.2f} {client:15.0f} {server}")


if __name__ == "__main__":
    asyncio.run(main())
