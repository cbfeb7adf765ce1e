"""Prometheus metrics, served at /metrics in the text exposition format (prometheus-client).

Process-wide (the default registry): requests by route template and status with their
latency (`MetricsMiddleware`), store calls by SQL function (`measured_transport`, wrapped once
around the store's transport), model calls and their errors (`measured_provider`, wrapped once
around the provider). Read at scrape time from the running services (`ServicesCollector`, one
registry per app): the connection pool's `get_stats()` and the realtime hub's `stats()`.

Litestar's own PrometheusMiddleware is not used: it records a request whose middleware raised
(401 from authentication, 415, 421) as a 200, and labels by raw path unless told otherwise.
Labels here are bounded: route templates, SQL function names, error codes; never ids.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, cast

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

from app.llm.provider import Completion, CompletionRequest, Provider, ProviderError, StreamEvent
from app.realtime import Hub
from app.store.errors import StoreError
from app.store.transport import Principal, Transport

if TYPE_CHECKING:
    from litestar.types import HTTPScope
    from prometheus_client.metrics_core import Metric

__all__ = [
    "MetricsMiddleware",
    "Observed",
    "ServicesCollector",
    "exposition",
    "measured_provider",
    "measured_transport",
    "services_registry",
]

REQUESTS = Counter(
    "api_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "api_request_duration_seconds", "HTTP request latency (a stream: its lifetime)", ["method", "route"]
)
STORE_SECONDS = Histogram(
    "store_call_duration_seconds", "Store calls (one SQL function each), by function", ["function"]
)
STORE_ERRORS = Counter(
    "store_call_errors", "Store calls that failed, by function and error code", ["function", "error"]
)
MODEL_SECONDS = Histogram(
    "chat_model_duration_seconds",
    "Model calls (a stream: until its last event), by model and mode",
    ["model", "mode"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120),
)
MODEL_ERRORS = Counter(
    "chat_model_errors", "Model calls that failed, by model and error code", ["model", "error"]
)


# Each series looked up once: prometheus-client's labels() takes a lock and builds a key.
@lru_cache(maxsize=1024)
def _request_series(method: str, route: str) -> Any:
    return REQUEST_SECONDS.labels(method, route)


@lru_cache(maxsize=4096)
def _request_count(method: str, route: str, status: int) -> Any:
    return REQUESTS.labels(method, route, str(status))


@lru_cache(maxsize=256)
def _store_series(function: str) -> Any:
    return STORE_SECONDS.labels(function)


class MetricsMiddleware(ASGIMiddleware):
    """Counts and times every routed HTTP request (a path no route matches is a 404 that
    never reaches a route's middleware, so it is not counted)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_status)
        except HTTPException as exc:
            status = exc.status_code
            raise
        finally:
            method, route = cast("HTTPScope", scope)["method"], scope.get("path_template", "unmatched")
            _request_series(method, route).observe(time.perf_counter() - started)
            _request_count(method, route, status).inc()


class _MeasuredTransport:
    """The store's transport, timing each call by SQL function."""

    __slots__ = ("inner",)

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    async def call(
        self, function: str, args: Mapping[str, Any], principal: Principal, *, retry: bool = False
    ) -> bytes | str:
        started = time.perf_counter()
        try:
            return await self.inner.call(function, args, principal, retry=retry)
        except StoreError as exc:
            STORE_ERRORS.labels(function, exc.code).inc()
            raise
        finally:
            _store_series(function).observe(time.perf_counter() - started)

    async def close(self) -> None:
        await self.inner.close()


def measured_transport(transport: Transport) -> Transport:
    return _MeasuredTransport(transport)


class _MeasuredProvider:
    """The model provider, timing each call and counting its failures."""

    __slots__ = ("inner", "model")

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.model = inner.model

    async def complete(self, request: CompletionRequest) -> Completion:
        started = time.perf_counter()
        try:
            return await self.inner.complete(request)
        except ProviderError as exc:
            MODEL_ERRORS.labels(self.inner.model, exc.code).inc()
            raise
        finally:
            MODEL_SECONDS.labels(self.inner.model, "complete").observe(time.perf_counter() - started)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        try:
            async for event in self.inner.stream(request):
                yield event
        except ProviderError as exc:
            MODEL_ERRORS.labels(self.inner.model, exc.code).inc()
            raise
        finally:
            MODEL_SECONDS.labels(self.inner.model, "stream").observe(time.perf_counter() - started)

    async def aclose(self) -> None:
        await self.inner.aclose()


def measured_provider(provider: Provider) -> Provider:
    return _MeasuredProvider(provider)


class Observed(Protocol):
    """What the collector reads of an app's running services (app.services.Running has it)."""

    @property
    def pool(self) -> AsyncConnectionPool: ...

    @property
    def hub(self) -> Hub: ...


class ServicesCollector(Collector):
    """The pool's and the hub's numbers, read when scraped (nothing while the app is stopped).

    `running` returns what the app's lifespan opened, or None outside it: the collector is
    built with the app, before anything runs, and only reads when scraped."""

    def __init__(self, running: Callable[[], Observed | None]) -> None:
        self.running = running

    def collect(self) -> Iterator[Metric]:
        running = self.running()
        if running is None:
            return
        pool = running.pool.get_stats()
        for name, key, help_text in (
            ("db_pool_size", "pool_size", "Connections the pool holds (idle or in use)"),
            ("db_pool_available", "pool_available", "Idle connections in the pool"),
            ("db_pool_max", "pool_max", "Most connections the pool opens (DB_POOL_MAX_SIZE)"),
            ("db_pool_requests_waiting", "requests_waiting", "Requests waiting for a connection now"),
        ):
            yield GaugeMetricFamily(name, help_text, value=pool.get(key, 0))
        for name, key, help_text in (
            ("db_pool_requests", "requests_num", "Connections handed out"),
            ("db_pool_requests_queued", "requests_queued", "Requests that had to wait for a connection"),
            ("db_pool_requests_errors", "requests_errors", "Requests that got no connection (timeout)"),
            ("db_pool_connections_lost", "connections_lost", "Connections found broken"),
        ):
            yield CounterMetricFamily(name, help_text, value=pool.get(key, 0))
        hub = running.hub.stats()
        yield GaugeMetricFamily("realtime_subscribers", "Open event streams", value=hub.subscribers)
        yield GaugeMetricFamily(
            "realtime_topics", "Conversations with an open event stream", value=hub.topics
        )
        connected = GaugeMetricFamily(
            "realtime_feed_connected", "1 while the live feed is connected", labels=["feed"]
        )
        connected.add_metric([hub.feed], 1 if hub.feed_connected else 0)
        yield connected
        yield CounterMetricFamily(
            "realtime_published", "Messages fanned out to subscribers", value=hub.published
        )
        yield CounterMetricFamily(
            "realtime_overflows", "Subscribers disconnected for falling behind", value=hub.overflows
        )
        yield CounterMetricFamily(
            "realtime_catch_up_reads", "Database reads to catch streams up", value=hub.catch_up_reads
        )
        yield CounterMetricFamily(
            "realtime_feed_sessions",
            "Live feed connections that reached listening (1 + reconnects)",
            value=hub.feed_sessions,
        )
        if hub.feed_lag_seconds is not None:
            yield GaugeMetricFamily(
                "realtime_feed_lag_seconds",
                "Last message the feed carried: seconds from its insert to the hub",
                value=hub.feed_lag_seconds,
            )


def services_registry(running: Callable[[], Observed | None]) -> CollectorRegistry:
    """The registry of one app's running services (its /metrics adds the process-wide one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServicesCollector(running))
    return registry


def exposition(app_registry: CollectorRegistry) -> bytes:
    """The text exposition of the process-wide metrics and of one app's services."""
    return generate_latest(REGISTRY) + generate_latest(app_registry)
