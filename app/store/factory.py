"""Chooses the transport from configuration: PostgREST when a Supabase project is
configured (SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY), a direct Postgres pool otherwise."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.store.postgres import PostgresTransport
from app.store.postgrest import PostgrestTransport
from app.store.transport import Transport

__all__ = ["create_transport"]


def create_transport(settings: Settings, pool: AsyncConnectionPool) -> Transport:
    """The store's transport. The pool stays the app's (it also serves /health) and the app
    closes it; `Transport.close()` releases only what the transport opened itself."""
    if settings.supabase.enabled:
        return PostgrestTransport.from_settings(settings.supabase)
    return PostgresTransport(pool, protocol=settings.db.protocol)
