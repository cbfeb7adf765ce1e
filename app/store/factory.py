"""Chooses the transport from configuration: PostgREST when a Supabase project is
configured (SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY), a direct Postgres pool otherwise."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.store.postgres import PostgresTransport
from app.store.transport import Transport

__all__ = ["create_transport"]


def create_transport(settings: Settings, pool: AsyncConnectionPool) -> Transport:
    """The store's transport. The pool stays the app's (it also serves /health)."""
    return PostgresTransport(pool)
