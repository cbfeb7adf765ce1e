"""Liveness of the API and of its database."""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from psycopg import Error as PsycopgError
from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.db import HealthProbe
from app.dependencies import provide_health_probe, provide_pool, provide_service_store
from app.store import ConversationManager, StoreError, UnavailableError

__all__ = ["HealthController", "HealthStatus"]

# The schema is there when the store's main function is: migrations were applied.
_CHECK = "select to_regprocedure('public.append_message(text,text,text,jsonb,text,text,integer)') is not null"


class PoolStatus(msgspec.Struct):
    """The API's connection pool: `waiting` requests queue for one of `size` connections
    (`available` idle), up to `max`."""

    size: int
    available: int
    waiting: int
    max: int


class HealthStatus(msgspec.Struct):
    status: str
    database: str
    schema: str
    latency_ms: float | None = None
    detail: str | None = None
    pool: PoolStatus | None = None


def _pool_status(pool: AsyncConnectionPool) -> PoolStatus:
    stats = pool.get_stats()
    return PoolStatus(
        stats.get("pool_size", 0),
        stats.get("pool_available", 0),
        stats.get("requests_waiting", 0),
        pool.max_size,
    )


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    dependencies = {
        "pool": Provide(provide_pool, sync_to_thread=False),
        "probe": Provide(provide_health_probe, sync_to_thread=False),
        "service_store": Provide(provide_service_store, sync_to_thread=False),
    }

    @get(
        "/",
        summary="Health of the API and its database",
        operation_id="health",
        description="Checked on a connection of its own, not the pool's: busy pooled connections "
        "(a locked conversation, a burst of load) do not make a healthy instance look down; `pool` "
        "shows how busy they are.",
        exclude_from_auth=True,
    )
    async def health(
        self,
        settings: NamedDependency[Settings],
        service_store: NamedDependency[ConversationManager],
        pool: NamedDependency[AsyncConnectionPool],
        probe: NamedDependency[HealthProbe],
    ) -> Response[HealthStatus]:
        retry_after = {"Retry-After": str(settings.server.retry_after_seconds)}
        if settings.supabase.enabled:
            return await _through_postgrest(service_store, retry_after)
        started = time.perf_counter()
        try:
            row = await probe.fetch(_CHECK)
        except (PsycopgError, TimeoutError, OSError) as exc:
            return Response(
                HealthStatus(
                    "unavailable", "down", "unknown", detail=type(exc).__name__, pool=_pool_status(pool)
                ),
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
                headers=retry_after,
            )
        latency = round((time.perf_counter() - started) * 1000, 2)
        migrated = bool(row and row[0])
        return Response(
            HealthStatus(
                "ok" if migrated else "degraded",
                "up",
                "ok" if migrated else "missing",
                latency,
                pool=_pool_status(pool),
            ),
            status_code=HTTP_200_OK if migrated else HTTP_503_SERVICE_UNAVAILABLE,
        )


async def _through_postgrest(
    store: ConversationManager, retry_after: dict[str, str]
) -> Response[HealthStatus]:
    """With a Supabase project the store talks to PostgREST, so that is what must answer: one
    cheap service RPC (statistics read counters, not tables)."""
    started = time.perf_counter()
    try:
        await store.stats()
    except UnavailableError as exc:
        return Response(
            HealthStatus("unavailable", "down", "unknown", detail=exc.message),
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers=retry_after,
        )
    except StoreError as exc:  # reachable, but the functions are missing or the key is refused
        return Response(
            HealthStatus(
                "degraded", "up", "missing" if exc.code == "store_error" else "unknown", detail=exc.message
            ),
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    latency = round((time.perf_counter() - started) * 1000, 2)
    return Response(HealthStatus("ok", "up", "ok", latency), status_code=HTTP_200_OK)
