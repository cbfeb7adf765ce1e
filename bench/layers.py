"""Our layers, one at a time: the CPU a request costs with each of the API's layers on and off.

    DATABASE_URL=... python -m bench.layers [--rounds 5] [--tier app,store,whole] [--only NAME]

Everything runs in this process (``bench.inprocess``: the ASGI app called directly, no server,
no socket), 16 concurrent clients or tasks, against the database of DATABASE_URL (migrated: the
bench cluster of ``make bench``, or the local stack). Three tiers, each with its own reference:

- ``app``: the app as served (``app.server.create_app``: API_AUTH=disabled on loopback, the
  Postgres transport's manager and metrics) with the transport's database call replaced by a
  recorded answer of the same call. What remains is our layers above the store and Litestar's,
  in CPU only: no database time moves the figures, so a layer of a few microseconds shows.
  Its floor: bench.floor's bare Litestar app answering the same bytes.
- ``store``: the store as the handlers call it (``ConversationManager`` over the measured
  transport), on the database, without HTTP. Its floors: one pooled prepared call through
  psycopg's cursor (what bench.floor does), and libpq's own calls through psycopg's ``pq``.
- ``whole``: the app as served with the database, against bench.floor's app making the same
  SQL call, and with the realtime feed (which decodes every appended message) off.

Each variant turns one layer off (or changes the setting that shapes it: a token, the token
cache, the pooler mode) and measures, right after a run of its tier's reference; its cost is
the median over the rounds of its difference to that reference run (the variants' order
rotating from round to round), with the range of those differences beside it: a neighbour's
burst on a shared machine falls on both runs of a pair. Layers are switched off from outside
the app, never by a setting of its own: a variant edits the app's configuration before it is
built (hooks), or replaces one object of the running app (a function the middleware calls,
the transport's lanes, the manager's decoding, the metrics' series) for its run and puts it
back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import jwt
import msgspec
import uvloop
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.types import Scope
from psycopg import generators, pq

from app import entry as entry_module
from app.auth import BearerAuth
from app.config import LOCAL_DATABASE_URL, Settings
from app.core import ApplicationCore, services_of
from app.crosssite import CrossSiteRules
from app.db import create_pool
from app.observability import measured_transport, send_request_id
from app.observability import metrics as metrics_module
from app.server import create_app
from app.services import Running
from app.store import SERVICE, ConversationManager, Principal
from app.store import postgres as postgres_module
from app.store.factory import create_transport, open_store
from app.store.models import AppendResult, ConversationPage, NewMessage
from bench.api import OWN_SETTINGS
from bench.floor import Mode, create_floor
from bench.inprocess import Request, Sample, client_cost, drive

__all__ = ["TIERS", "Variant", "main", "variants"]

TIERS = ("app", "store", "whole")
TASKS = 16
HISTORY = 50
READ_LIMIT = 10
CONTENT = "hello from pgbench: how long do you keep my conversations?"  # bench.http's
BENCH_USER = uuid.UUID("00000000-0000-4000-8000-00000000b0b0")
_APPEND_BODY = msgspec.json.encode({"role": "user", "content": CONTENT})
_keys = itertools.count()


# -- switching layers off -----------------------------------------------------------------------
Edit = Callable[[AppConfig], None]
Patch = Callable[["Target"], contextlib.AbstractContextManager[None]]


@dataclass
class Target:
    """What a patch may replace for a run: the running app's services, or the store tier's
    manager (``running`` is None there)."""

    store: ConversationManager
    running: Running | None = None


def _without_request_id_header(config: AppConfig) -> None:
    config.before_send[:] = [hook for hook in config.before_send if hook is not send_request_id]


class _NoRequestId:
    def set(self, value: object) -> None:
        return None

    def reset(self, token: object) -> None:
        pass


@contextlib.contextmanager
def _without_request_ids(target: Target) -> Iterator[None]:
    def no_id(scope: Scope) -> str:
        return "-"

    with (
        mock.patch.object(entry_module, "REQUEST_ID", _NoRequestId()),
        mock.patch.object(entry_module, "request_id", new=no_id),
    ):
        yield


@contextlib.contextmanager
def _without_request_metrics(target: Target) -> Iterator[None]:
    def unobserved(*_: object) -> None:
        pass

    with mock.patch.object(entry_module, "observe_request", new=unobserved):
        yield


@contextlib.contextmanager
def _without_cross_site(target: Target) -> Iterator[None]:
    def unchecked(self: CrossSiteRules, scope: Scope) -> None:
        pass

    with mock.patch.object(CrossSiteRules, "check", new=unchecked):
        yield


@contextlib.contextmanager
def _without_authentication(target: Target) -> Iterator[None]:
    """What authentication leaves behind, without it: the service as the request's principal."""

    async def given(self: BearerAuth, scope: Scope) -> tuple[Principal, str | None]:
        return SERVICE, None

    with mock.patch.object(BearerAuth, "principal_for", new=given):
        yield


def _innermost(transport: Any) -> Any:
    while hasattr(transport, "inner"):  # observability's measured wrapper
        transport = transport.inner
    return transport


def _replace_store(target: Target, store: ConversationManager) -> contextlib.AbstractContextManager[Any]:
    if target.running is not None:
        return mock.patch.object(target.running, "store", store)
    return mock.patch.object(target, "store", store)


class _NoLanes:
    def lane(self, key: str) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


@contextlib.contextmanager
def _without_lanes(target: Target) -> Iterator[None]:
    with mock.patch.object(_innermost(target.store.transport), "lanes", _NoLanes()):
        yield


@contextlib.contextmanager
def _without_store_metrics(target: Target) -> Iterator[None]:
    with _replace_store(target, ConversationManager(_innermost(target.store.transport))):
        yield


class _Unobserved:
    def observe(self, amount: float) -> None:
        pass


_UNOBSERVED = _Unobserved()


@contextlib.contextmanager
def _without_histograms(target: Target) -> Iterator[None]:
    def unobserved(*_: object) -> _Unobserved:
        return _UNOBSERVED

    with (
        mock.patch.object(metrics_module, "_request_series", new=unobserved),
        mock.patch.object(metrics_module, "_store_series", new=unobserved),
    ):
        yield


@contextlib.contextmanager
def _without_gate(target: Target) -> Iterator[None]:
    """The call's statement without its WHERE (unsafe: a measurement only): what the gate
    costs this process (two more values, a longer statement; the server's part is not here)."""

    def no_values(principal: Principal) -> list[Any]:
        return []

    transport = _innermost(target.store.transport)
    with (
        mock.patch.object(postgres_module, "_GATE", b""),
        mock.patch.object(postgres_module, "_gate_values", new=no_values),
        mock.patch.object(transport, "_gated", {}),
    ):
        yield


class _PassedAppend(msgspec.Struct):
    message: msgspec.Raw
    replayed: bool


@contextlib.contextmanager
def _passed_through(target: Target) -> Iterator[None]:
    """The manager hands the database's JSON on undecoded (msgspec.Raw: Litestar writes it as it
    is); an append's answer is split into its message and the replay flag only. Not the API's
    shape (the database's has fields the API leaves out): an upper bound of what it would save."""

    async def call(self: ConversationManager, function: str, result_type: Any, **kw: Any) -> Any:
        retry = kw.pop("retry", False)
        args = {k: v for k, v in kw.items() if v is not None}
        raw = await self.transport.call(function, args, self.principal, retry=retry)
        if result_type is AppendResult:
            return msgspec.json.decode(raw, type=_PassedAppend)
        return msgspec.Raw(raw.encode() if isinstance(raw, str) else raw)

    with mock.patch.object(ConversationManager, "_call", call):
        yield


@contextlib.contextmanager
def _without_manager(target: Target) -> Iterator[None]:
    """The handlers' two manager methods as the transport call they make and the decode."""

    async def get_conversation(
        self: ConversationManager, conversation_id: str, limit: int = 50, before: int | None = None
    ) -> ConversationPage:
        args = {"p_conversation_id": conversation_id, "p_message_limit": limit}
        raw = await self.transport.call("get_conversation", args, self.principal, retry=True)
        return msgspec.json.decode(raw, type=ConversationPage)

    async def add_message(
        self: ConversationManager, conversation_id: str, role: str, content: str, *_: Any, **__: Any
    ) -> AppendResult:
        args = {
            "p_conversation_id": conversation_id,
            "p_role": role,
            "p_content": content,
            "p_idempotency_key": f"layers:{next(_keys)}",
        }
        raw = await self.transport.call("append_message", args, self.principal, retry=True)
        return msgspec.json.decode(raw, type=AppendResult)

    with (
        mock.patch.object(ConversationManager, "get_conversation", get_conversation),
        mock.patch.object(ConversationManager, "add_message", add_message),
    ):
        yield


class _Recorded:
    """A transport answering every call of a function with one recorded answer of it."""

    def __init__(self, answers: Mapping[str, bytes]) -> None:
        self.answers = answers

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> bytes:
        return self.answers[function]

    async def close(self) -> None:
        pass


# -- the variants -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One thing changed in its tier's reference: ``env`` (settings), ``edit`` (the app's
    configuration before it is built), ``patch`` (an object of the running app or store, for the
    run), ``caller`` (whose token the request carries: ``user`` or ``service``); ``floor``:
    bench.floor's app instead (tiers app and whole); ``call``: a store-tier floor's own call."""

    tier: str
    name: str
    layer: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    edit: Edit | None = None
    patch: Patch | None = None
    caller: str | None = None
    floor: Mode | None = None
    call: str | None = None

    @property
    def reference(self) -> bool:
        return not self.layer


def variants() -> list[Variant]:
    """Every tier's reference (first in its tier), its layers and its floors."""
    return [
        Variant("app", "as served (API_AUTH=disabled, no token)"),
        Variant("app", "service role key (a JWT)", "auth", caller="service"),
        Variant("app", "a user's JWT, token cache on", "auth", caller="user"),
        Variant(
            "app", "a user's JWT, token cache off", "auth", env={"JWT_CACHE_SECONDS": "0"}, caller="user"
        ),
        Variant("app", "authentication off (principal given)", "auth", patch=_without_authentication),
        Variant(
            "app",
            "request ids off (none chosen, no header)",
            "request ids",
            edit=_without_request_id_header,
            patch=_without_request_ids,
        ),
        Variant("app", "request metrics off", "metrics", patch=_without_request_metrics),
        Variant("app", "store-call metrics off", "metrics", patch=_without_store_metrics),
        Variant("app", "histogram observations off", "metrics", patch=_without_histograms),
        Variant("app", "cross-site checks off", "cross-site", patch=_without_cross_site),
        Variant("app", "store manager bypassed", "manager", patch=_without_manager),
        Variant("app", "decoding + encoding off (JSON passed through)", "encoding", patch=_passed_through),
        Variant(
            "app",
            "OpenTelemetry on (unreachable collector)",
            "tracing",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        ),
        Variant("app", "floor: bare Litestar, the same answer", "floor", floor="const"),
        Variant("store", "manager + measured transport, as served"),
        Variant("store", "store-call metrics off", "metrics", patch=_without_store_metrics),
        Variant("store", "lanes off", "lanes", patch=_without_lanes),
        Variant("store", "session-context gate off (unsafe)", "gate", patch=_without_gate),
        Variant("store", "decoding off (raw JSON)", "encoding", patch=_passed_through),
        Variant(
            "store",
            "context with every call (DB_TRANSACTION_POOLER)",
            "session context",
            env={"DB_TRANSACTION_POOLER": "true"},
        ),
        Variant("store", "floor: pooled prepared call, psycopg cursor", "floor", call="cursor"),
        Variant("store", "floor: pooled prepared call, libpq (psycopg.pq)", "floor", call="pq"),
        Variant("whole", "as served, with the database"),
        Variant("whole", "realtime feed off", "realtime", env={"REALTIME_FEED": "off"}),
        Variant("whole", "floor: bare Litestar + the same SQL call", "floor", floor="same"),
    ]


# -- settings and apps --------------------------------------------------------------------------
def _settings(url: str, env: Mapping[str, str]) -> Settings:
    """The app's settings from its defaults, the bench's and ``env`` (nothing of the caller's)."""
    wanted = {"DATABASE_URL": url, "API_AUTH": "disabled", "API_HOST": "127.0.0.1", "LOG_LEVEL": "warning"}
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith(OWN_SETTINGS)]:
            del os.environ[name]
        os.environ.update({**wanted, **env})
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _app(variant: Variant, settings: Settings, sample: str) -> Litestar:
    if variant.floor is not None:
        return create_floor(settings, variant.floor, sample)
    if variant.edit is None:
        return create_app(settings)
    original, edit = ApplicationCore.on_app_init, variant.edit

    def on_app_init(self: ApplicationCore, app_config: AppConfig) -> AppConfig:
        config = original(self, app_config)
        edit(config)
        return config

    with mock.patch.object(ApplicationCore, "on_app_init", on_app_init):
        return create_app(settings)


def _tokens(settings: Settings) -> dict[str, bytes]:
    now = int(time.time())
    claims = {"sub": str(BENCH_USER), "role": "authenticated", "aud": settings.auth.audience}
    user = jwt.encode({**claims, "iat": now, "exp": now + 3600}, settings.auth.jwt_secret, "HS256")
    service = jwt.encode({"role": "service_role", "exp": now + 3600}, settings.auth.jwt_secret, "HS256")
    return {"user": b"Bearer " + user.encode(), "service": b"Bearer " + service.encode()}


# -- workloads ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """The bench user's conversations: ``reads`` of HISTORY messages, ``appends`` to append to,
    and one recorded answer of each store call (the app tier's transport)."""

    reads: list[str]
    appends: list[str]
    answers: dict[str, bytes]


async def _prepare(url: str, run: str) -> Data:
    async with open_store(_settings(url, {}), wait=True) as (_, store):
        reads, appends = [], []
        for i in range(TASKS):
            read = await store.create_conversation(BENCH_USER, conversation_id=f"layers-{run}-read-{i}")
            batch = [NewMessage(role="user", content=CONTENT) for _ in range(HISTORY)]
            await store.append_messages(read.conversation_id, batch)
            reads.append(read.conversation_id)
            append = await store.create_conversation(BENCH_USER, conversation_id=f"layers-{run}-append-{i}")
            appends.append(append.conversation_id)
        transport = store.transport
        page = await transport.call(
            "get_conversation", {"p_conversation_id": reads[0], "p_message_limit": READ_LIMIT}, SERVICE
        )
        appended = await transport.call(
            "append_message",
            {
                "p_conversation_id": appends[0],
                "p_role": "user",
                "p_content": CONTENT,
                "p_idempotency_key": run,
            },
            SERVICE,
        )
        answers = {
            name: raw.encode() if isinstance(raw, str) else raw
            for name, raw in (("get_conversation", page), ("append_message", appended))
        }
        return Data(reads, appends, answers)


async def _cleanup(url: str, data: Data) -> None:
    async with open_store(_settings(url, {}), wait=True) as (_, store):
        for cid in data.reads + data.appends:
            await store.delete_conversation(cid)


def _http(kind: str, cid: str, headers: Sequence[tuple[bytes, bytes]]) -> Request:
    if kind == "read":
        return Request("GET", f"/conversations/{cid}", query=b"limit=%d" % READ_LIMIT, headers=headers)
    return Request("POST", f"/conversations/{cid}/messages", body=_APPEND_BODY, headers=headers)


Runner = Callable[[str, int], Awaitable[Sample]]  # (workload, count) -> sample


class _Apps:
    """The app and whole tiers' apps, each started once (its lifespan) for the whole run."""

    def __init__(
        self, url: str, data: Data, tokens: Mapping[str, bytes], stack: contextlib.AsyncExitStack
    ) -> None:
        self.url, self.data, self.tokens, self.stack = url, data, tokens, stack

    async def runner(self, variant: Variant) -> Runner:
        env = dict(variant.env)
        if variant.tier == "app":
            env.setdefault("REALTIME_FEED", "off")  # no database writes in this tier
        settings = _settings(self.url, env)
        app = _app(variant, settings, self.data.reads[0])
        await self.stack.enter_async_context(app.lifespan())
        target: Target | None = None
        if variant.floor is None:
            running = services_of(app).running
            target = Target(running.store, running)
            if variant.tier == "app":
                measured: Any = running.store.transport
                measured.inner = _Recorded(self.data.answers)
        headers = [(b"authorization", self.tokens[variant.caller])] if variant.caller else []

        async def run(kind: str, count: int) -> Sample:
            ids = self.data.reads if kind == "read" else self.data.appends

            def request(i: int) -> Request:
                return _http(kind, ids[i % len(ids)], headers)

            patch = variant.patch(target) if variant.patch and target else contextlib.nullcontext()
            with patch:
                return await drive(app, request, tasks=TASKS, count=count)

        return run


class _Store:
    """The store tier: the manager over the measured transport, as the app builds them."""

    def __init__(self, url: str, data: Data, stack: contextlib.AsyncExitStack) -> None:
        self.url, self.data, self.stack = url, data, stack

    async def runner(self, variant: Variant) -> Runner:
        settings = _settings(self.url, variant.env)
        pool = create_pool(settings.db)
        await pool.open(wait=True)
        self.stack.push_async_callback(pool.close)
        transport = create_transport(settings, pool)
        target = Target(ConversationManager(measured_transport(transport)))
        read_sql = (
            b"select public.get_conversation(p_conversation_id => %s::text,"
            b" p_message_limit => %s::integer)::text"
        )
        append_sql = (
            b"select public.append_message(p_conversation_id => %s::text, p_role => %s::text,"
            b" p_content => %s::text, p_idempotency_key => %s::text)::text"
        )
        prepared: set[int] = set()

        async def cursor(kind: str, cid: str) -> object:
            async with pool.connection() as conn:
                if kind == "read":
                    cur = await conn.execute(read_sql, (cid, READ_LIMIT), prepare=True)
                else:
                    cur = await conn.execute(
                        append_sql, (cid, "user", CONTENT, f"layers:{next(_keys)}"), prepare=True
                    )
                return await cur.fetchone()

        async def libpq(kind: str, cid: str) -> object:
            conn = await pool.getconn()
            try:
                pgconn = conn.pgconn
                if id(pgconn) not in prepared:
                    for name, sql in ((b"layers_read", read_sql), (b"layers_append", append_sql)):
                        pgconn.send_prepare(
                            name, sql.replace(b"%s", b"$%d") % tuple(range(1, sql.count(b"%s") + 1))
                        )
                        await conn.wait(generators.fetch_many(pgconn))
                    prepared.add(id(pgconn))
                if kind == "read":
                    pgconn.send_query_prepared(b"layers_read", [cid.encode(), b"%d" % READ_LIMIT])
                else:
                    key = f"layers:{next(_keys)}".encode()
                    pgconn.send_query_prepared(
                        b"layers_append", [cid.encode(), b"user", CONTENT.encode(), key]
                    )
                (result,) = await conn.wait(generators.fetch_many(pgconn))
                if result.status != pq.ExecStatus.TUPLES_OK:
                    raise RuntimeError(result.get_error_field(pq.DiagnosticField.MESSAGE_PRIMARY))
                return result.get_value(0, 0)
            finally:
                await pool.putconn(conn)

        async def served(kind: str, cid: str) -> object:
            if kind == "read":
                return await target.store.get_conversation(cid, READ_LIMIT)
            return await target.store.add_message(cid, "user", CONTENT)

        call = {"cursor": cursor, "pq": libpq}.get(variant.call or "", served)

        async def run(kind: str, count: int) -> Sample:
            ids = self.data.reads if kind == "read" else self.data.appends
            each = max(1, count // TASKS)
            patch = variant.patch(target) if variant.patch else contextlib.nullcontext()

            async def task(i: int) -> None:
                for _ in range(each):
                    await call(kind, ids[i])

            with patch:
                started, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(task(i) for i in range(TASKS)))
                return Sample(each * TASKS, time.perf_counter() - started, time.process_time() - cpu)

        return run


# -- the rounds ---------------------------------------------------------------------------------
@dataclass
class _Found:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    deltas: dict[str, list[float]] = field(default_factory=dict)


async def run(
    url: str, *, rounds: int, tiers: Sequence[str], scale: float = 1.0, names: Sequence[str] = ()
) -> None:
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)  # the unreachable collector
    chosen = [
        v
        for v in variants()
        if v.tier in tiers and (not names or v.reference or any(n in v.name for n in names))
    ]
    counts = {  # requests per measured run, by tier and workload
        "app": {"read": 4000, "append": 4000},
        "store": {"read": 3000, "append": 1500},
        "whole": {"read": 3000, "append": 1500},
    }
    data = await _prepare(url, uuid.uuid4().hex[:8])
    load = [os.getloadavg()[0]]
    client = await client_cost(tasks=TASKS, count=20_000)
    print(
        f"in-process, {TASKS} concurrent clients; {rounds} rounds alternating every variant with its "
        f"tier's reference; the client's own cost {client.cpu_us:.0f} us/request (in every app figure)",
        flush=True,
    )
    found: dict[tuple[str, str], _Found] = {}
    try:
        async with contextlib.AsyncExitStack() as stack:
            apps, store = _Apps(url, data, _tokens(_settings(url, {})), stack), _Store(url, data, stack)
            runners = {
                v.name + v.tier: await (store.runner(v) if v.tier == "store" else apps.runner(v))
                for v in chosen
            }
            for tier in [t for t in TIERS if t in tiers]:
                members = [v for v in chosen if v.tier == tier]
                reference, others = members[0], members[1:]
                for kind in ("read", "append"):
                    count = max(100, round(counts[tier][kind] * scale))
                    results = found.setdefault((tier, kind), _Found())
                    for runner in [runners[v.name + v.tier] for v in members]:
                        await runner(kind, max(200, count // 4))  # warm-up: connections, caches
                    for r in range(rounds):
                        shift = r % len(others) if others else 0
                        for v in others[shift:] + others[:shift]:
                            # The reference right before each variant: a neighbour's burst of
                            # a few seconds falls on both of a pair, not on one variant.
                            base = await runners[reference.name + tier](kind, count)
                            sample = await runners[v.name + tier](kind, count)
                            results.samples.setdefault(reference.name, []).append(base)
                            results.samples.setdefault(v.name, []).append(sample)
                            results.deltas.setdefault(v.name, []).append(sample.cpu_us - base.cpu_us)
                    load.append(os.getloadavg()[0])
                    print(
                        f"tier {tier}, {kind}s: {rounds} rounds done; load average (1 min) {load[-1]:.2f}",
                        flush=True,
                    )
    finally:
        await _cleanup(url, data)
    _report(chosen, found, load)


def _report(
    chosen: Sequence[Variant], found: Mapping[tuple[str, str], _Found], load: Sequence[float]
) -> None:
    print(
        f"\nCPU per request in this process, medians over the rounds; load average (1 min) "
        f"{min(load):.2f}..{max(load):.2f} during the run, {os.cpu_count()} cores"
    )
    for (tier, kind), results in found.items():
        print(f"\n  {tier} tier, {kind}s:")
        print(f"    {'variant':<52} {'layer':<16} {'us/req':>7} {'vs ref.':>8} {'range':>13} {'req/s':>7}")
        for variant in [v for v in chosen if v.tier == tier]:
            samples = results.samples.get(variant.name, [])
            if not samples:
                continue
            cpu = statistics.median(s.cpu_us for s in samples)
            rate = statistics.median(s.rate for s in samples)
            deltas = results.deltas.get(variant.name)
            delta = f"{statistics.median(deltas):+8.1f}" if deltas else f"{'-':>8}"
            spread = f"{min(deltas):+.0f}..{max(deltas):+.0f}" if deltas else "-"
            layer = variant.layer or "reference"
            print(f"    {variant.name:<52} {layer:<16} {cpu:7.1f} {delta} {spread:>13} {rate:7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tier", default=",".join(TIERS), help="comma-separated: app, store, whole")
    parser.add_argument("--scale", type=float, default=1.0, help="times the requests per run")
    parser.add_argument("--only", action="append", default=[], help="variants whose name contains this")
    opts = parser.parse_args()
    tiers = [t.strip() for t in opts.tier.split(",") if t.strip()]
    if unknown := set(tiers) - set(TIERS):
        parser.error(f"unknown tier(s): {', '.join(sorted(unknown))}")
    url = os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)
    uvloop.run(run(url, rounds=opts.rounds, tiers=tiers, scale=opts.scale, names=opts.only))


if __name__ == "__main__":
    main()
