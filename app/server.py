"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from app.auth import BearerAuthMiddleware, TokenVerifier, check_auth_mode
from app.config import Settings, get_settings
from app.controllers.admin import AdminController, ImportController
from app.controllers.conversations import ConversationController
from app.controllers.health import HealthController
from app.controllers.messages import MessageController
from app.db import create_pool
from app.dependencies import provide_principal, provide_store
from app.errors import create_exception_handlers
from app.store import SERVICE, ConversationManager
from app.store.factory import create_transport

__all__ = ["create_app"]

log = logging.getLogger("app")

# Reachable without a token: liveness and the API's own description.
PUBLIC_PATHS = ["^/health", "^/schema"]


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API. The connection pool and the store live in the lifespan, on app.state.

    Raises RuntimeError when API_AUTH=disabled is asked for on a non-loopback API_HOST.
    """
    settings = settings or get_settings()
    check_auth_mode(settings.server.auth, settings.server.host)
    auth_disabled = settings.server.auth == "disabled"
    verifier = TokenVerifier(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if auth_disabled:
            log.warning(
                "API_AUTH=disabled: requests without a token act as the service (full access). "
                "Serving on %s only.",
                settings.server.host,
            )
        pool = create_pool(settings.db)
        await pool.open(wait=False)
        transport = create_transport(settings, pool)
        app.state.pool = pool
        app.state.store = ConversationManager(transport)
        app.state.verifier = verifier
        try:
            yield
        finally:
            await transport.close()
            await pool.close()
            await verifier.close()

    security_scheme = SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="The service role key, or a user's Supabase access token.",
    )
    return Litestar(
        route_handlers=[
            HealthController,
            ConversationController,
            MessageController,
            AdminController,
            Router(
                "/",
                route_handlers=[ImportController],
                request_max_body_size=settings.server.max_import_bytes,
            ),
        ],
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        middleware=[
            DefineMiddleware(
                BearerAuthMiddleware,
                verifier=verifier,
                anonymous=SERVICE if auth_disabled else None,
                exclude=PUBLIC_PATHS,
            )
        ],
        exception_handlers=create_exception_handlers(settings.server.retry_after_seconds),
        request_max_body_size=settings.server.max_body_bytes,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="AI conversation store",
            version="0.1.0",
            description="Conversation history for AI services, kept in Supabase Postgres.",
            path="/schema",
            components=Components(security_schemes={"bearer": security_scheme}),
            security=[{"bearer": []}],
        ),
        debug=False,
    )
