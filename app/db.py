"""The psycopg connection pool, opened and closed with the application, and the health
probe's own connection."""

from __future__ import annotations

import asyncio
import select
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from app.config import DatabaseSettings

__all__ = ["HealthProbe", "check_stale", "create_pool"]


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
        check=check_stale,
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


async def check_stale(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's test of a connection it is about to hand out; raises when it is broken, and
    the pool then discards it and hands out another.

    An idle connection has nothing to read unless the server closed it meanwhile (a restart,
    pg_terminate_backend, an idle timeout: the server sends its FATAL error and closes) or
    sent a notification, which the API never listens for. So a healthy connection costs one
    poll() and no round trip, and only one with something to read is tested with a query
    (psycopg_pool's check_connection). After a database restart every pooled connection is
    such a one: none reaches a request."""
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        await AsyncConnectionPool.check_connection(conn)


class HealthProbe:
    """One connection of its own for /health, outside the pool: the health of the database
    must not wait behind requests that hold every pooled connection (a locked conversation,
    a burst of load). Opened on first use, reopened after a failure; checks are serialized
    and each is bounded by `timeout` seconds."""

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
                    if self._conn is None or self._conn.closed:
                        self._conn = await psycopg.AsyncConnection.connect(
                            self.settings.url,
                            connect_timeout=max(1, round(self.timeout)),
                            **connection_kwargs(self.settings),
                        )
                    cur = await self._conn.execute(query)
                    return await cur.fetchone()
            except BaseException:
                await self.close()
                raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
