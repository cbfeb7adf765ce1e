"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from app.config import Settings, get_settings
from app.controllers.health import HealthController
from app.db import create_pool

__all__ = ["create_app"]

log = logging.getLogger("app")


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API. The connection pool lives in the lifespan and is kept on app.state."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = create_pool(settings.db)
        await pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    return Litestar(
        route_handlers=[HealthController],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="AI conversation store", version="0.1.0", path="/schema"),
        state=None,
        debug=False,
    )
