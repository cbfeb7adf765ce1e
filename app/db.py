"""The psycopg connection pool, opened and closed with the application."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from app.config import DatabaseSettings

__all__ = ["create_pool"]


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
        kwargs={
            "autocommit": True,
            # Behind a transaction pooler a prepared statement may land on another backend.
            "prepare_threshold": None if settings.transaction_pooler else 5,
            "application_name": "supabase-conversations",
        },
    )
