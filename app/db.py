"""The psycopg connection pool, opened and closed with the application, and the health
probe's own connection."""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from app.config import DatabaseSettings

__all__ = ["HealthProbe", "checkout", "closed_by_server", "connection", "connection_kwargs", "create_pool"]


def create_pool(settings: DatabaseSettings) -> AsyncConnectionPool:
    """A closed pool; the app's lifespan opens it without waiting, so the API starts (and
    reports the database down on /health) even while Postgres is still coming up."""
    return AsyncConnectionPool(
        settings.url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        open=False,
        name="conversations",
        kwargs=connection_kwargs(settings),
    )


def connection_kwargs(settings: DatabaseSettings) -> dict[str, Any]:
    """How the API's connections are opened (the pool's and the health probe's)."""
    return {
        "autocommit": True,
        # Behind a transaction pooler a prepared statement may land on another backend.
        "prepare_threshold": None if settings.transaction_pooler else 5,
        "application_name": "supabase-conversations",
    }


def closed_by_server(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection was closed by the server meanwhile, without a round trip.

    An idle connection has nothing to read unless the server closed it (a restart,
    pg_terminate_backend, an idle timeout: the server sends its FATAL error and closes) or
    sent a notification, which the API never listens for. So a healthy connection costs one
    poll() and nothing else."""
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


async def checkout(pool: AsyncConnectionPool) -> psycopg.AsyncConnection[Any]:
    """`pool.getconn()`, never handing out one the server closed while it sat idle: such a
    one is closed (the pool replaces it) and the next is taken, at once. After a database
    restart every pooled connection is such a one, and none reaches a request. (psycopg_pool's
    own `check` would cost a round trip per checkout, or back off a second and more per stale
    connection found.) Give it back with `pool.putconn()`, which also discards a connection
    left broken or in a transaction."""
    for _ in range(pool.max_size + 1):
        conn = await pool.getconn()
        if not closed_by_server(conn):
            return conn
        await conn.close()
        await pool.putconn(conn)
    raise psycopg.OperationalError("every pooled connection was closed by the server")


@asynccontextmanager
async def connection(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """`checkout()` as a context manager: the connection goes back to the pool on exit."""
    conn = await checkout(pool)
    try:
        yield conn
    finally:
        await pool.putconn(conn)


class HealthProbe:
    """One connection of its own for /health, outside the pool: the health of the database
    must not wait behind requests that hold every pooled connection (a locked conversation,
    a burst of load). Opened on first use; checked before each use the way the pool's are
    (`closed_by_server`: one the server closed while it sat idle, after a restart or a
    failover, is replaced at once, so the first probe after it tells the truth); reopened after
    a failure. Checks are serialized, each bounded by `timeout` seconds."""

    def __init__(self, settings: DatabaseSettings, *, timeout: float = 2.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def fetch(self, query: str) -> tuple[Any, ...] | None:
        """The first row of `query`; raises psycopg.Error or TimeoutError when the database
        does not answer in time."""
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout):
                    if self._conn is not None and closed_by_server(self._conn):
                        await self.close()
                    return await self._fetch(query)
            except BaseException:
                await self.close()
                raise

    async def _fetch(self, query: str) -> tuple[Any, ...] | None:
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(
                self.settings.url,
                connect_timeout=max(1, round(self.timeout)),
                **connection_kwargs(self.settings),
            )
        cur = await self._conn.execute(query)
        return await cur.fetchone()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
