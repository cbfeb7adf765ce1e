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
from app.cli import ConversationsCLI
from app.config import Settings, get_settings
from app.controllers.admin import AdminController, ImportController
from app.controllers.chat import ChatController
from app.controllers.conversations import ConversationController
from app.controllers.events import EventsController
from app.controllers.health import HealthController
from app.controllers.messages import MessageController
from app.dependencies import provide_principal, provide_store
from app.errors import create_exception_handlers
from app.llm import ToolRegistry, create_provider, create_tools
from app.realtime import create_hub
from app.store import SERVICE
from app.store.factory import open_store

__all__ = ["create_app"]

log = logging.getLogger("app")

# Reachable without a token: liveness and the API's own description.
PUBLIC_PATHS = ["^/health", "^/schema"]


def create_app(settings: Settings | None = None, *, tools: ToolRegistry | None = None) -> Litestar:
    """Build the API. The connection pool, the store and the model provider live in the
    lifespan, on app.state (`store`; `llm_settings`, `llm_provider`, `llm_tools` for /chat).

    `llm_settings` defaults to LLMSettings() read from the environment (LLM_*, CHAT_*);
    `tools`, the tools offered to the model, to the built-ins CHAT_TOOLS names (a service adds
    its own by passing a registry, see the README); `realtime`, the live feed's settings, to
    RealtimeSettings() (REALTIME_*). Raises RuntimeError when API_AUTH=disabled
    is asked for on a non-loopback API_HOST, and ValueError when CHAT_TOOLS names an unknown tool.
    """
    settings = settings or get_settings()
    check_auth_mode(settings.server.auth, settings.server.host)
    auth_disabled = settings.server.auth == "disabled"
    verifier = TokenVerifier(settings)
    llm = settings.llm
    chat_tools = tools if tools is not None else create_tools(llm)
    realtime_settings = settings.realtime

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if auth_disabled:
            log.warning(
                "API_AUTH=disabled: requests without a token act as the service (full access). "
                "Serving on %s only.",
                settings.server.host,
            )
        async with open_store(settings) as (pool, store):
            app.state.supabase_mode = settings.supabase.enabled  # /health asks PostgREST then
            app.state.pool = pool
            app.state.store = store
            app.state.verifier = verifier
            provider = create_provider(llm)
            app.state.llm_settings = llm
            app.state.llm_provider = provider
            app.state.llm_tools = chat_tools
            if llm.uses_offline:
                log.info("/chat uses the offline echo provider (no model configured: set LLM_BASE_URL)")
            # The hub reads as the service; each stream is authorized as its caller first.
            hub = create_hub(settings, store, realtime_settings)
            await hub.start()  # returns at once: the feed connects (and reconnects) in the background
            app.state.hub = hub
            app.state.realtime = realtime_settings
            try:
                yield
            finally:
                await hub.stop()  # ends every stream with a `shutdown` event
                await provider.aclose()
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
            ChatController,
            EventsController,
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
        plugins=[ConversationsCLI()],
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
