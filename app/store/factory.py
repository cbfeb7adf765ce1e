"""Chooses the transport from configuration: PostgREST when a Supabase project is
configured (SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY), a direct Postgres pool otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.db import create_pool
from app.store.manager import ConversationManager
from app.store.postgres import PostgresTransport
from app.store.postgrest import PostgrestTransport
from app.store.transport import Transport

__all__ = ["create_transport", "open_store"]


def create_transport(settings: Settings, pool: AsyncConnectionPool) -> Transport:
    """The store's transport. The pool stays the app's (it also serves /health) and the app
    closes it; `Transport.close()` releases only what the transport opened itself."""
    if settings.supabase.enabled:
        return PostgrestTransport.from_settings(settings.supabase)
    return PostgresTransport(
        pool,
        protocol=settings.db.protocol,
        per_conversation=settings.db.per_conversation,
        transaction_pooler=settings.db.transaction_pooler,
    )


@asynccontextmanager
async def open_store(
    settings: Settings, *, wait: bool = False
) -> AsyncIterator[tuple[AsyncConnectionPool, ConversationManager]]:
    """The pool and the service's store over the configured transport, both closed on exit.

    The pool is opened only without a Supabase project (everything else goes through
    PostgREST). `wait`: block until the first connection (the CLI) instead of starting while
    Postgres is still coming up (the API, whose /health then reports it down)."""
    pool = create_pool(settings.db)
    try:
        if not settings.supabase.enabled:
            await pool.open(wait=wait, timeout=settings.db.pool_timeout)
        transport = create_transport(settings, pool)
        try:
            yield pool, ConversationManager(transport)
        finally:
            await transport.close()
    finally:
        await pool.close()
