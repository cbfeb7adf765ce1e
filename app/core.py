"""ApplicationCore: the plugin that wires the API, the way litestar-fullstack's core does.

`create_app()` (app.server) builds `Litestar(plugins=[ApplicationCore(settings)])`; this
plugin adds the routes, the dependencies, the one middleware (app.entry: request ids, metrics,
cross-site rules, authentication), the exception handlers, the OpenAPI description (with its
docs UI served from local assets, so it works offline), the web client at `/` (app.webclient)
and the lifespan that opens the services.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from app import __version__
from app.aisdk import AISDKController
from app.auth import BearerAuth, check_auth_mode
from app.config import Settings
from app.controllers.admin import AdminController, ImportController
from app.controllers.chat import ChatController
from app.controllers.context import ContextController
from app.controllers.conversations import ConversationController
from app.controllers.erasure import ErasureController
from app.controllers.events import EventsController
from app.controllers.feedback import FeedbackController
from app.controllers.health import HealthController
from app.controllers.messages import MessageController
from app.controllers.metrics import MetricsController
from app.controllers.search import SearchController
from app.controllers.turns import TurnController
from app.controllers.usage import UsageController
from app.controllers.web_config import WebConfigController
from app.crosssite import CrossSiteRules
from app.dependencies import provide_settings, provide_store
from app.dto import JSONRequest
from app.entry import EntryMiddleware
from app.errors import create_exception_handlers
from app.llm import ToolRegistry, create_tools
from app.observability import send_request_id
from app.openai_api import create_openai_router
from app.services import Services
from app.store import SERVICE
from app.webclient import web_client_routers

__all__ = ["PUBLIC_PATHS", "ApplicationCore", "services_of"]

# Reachable without a token: liveness, metrics (no user data: see MetricsController), the
# API's own description (its UI's assets included) and what the web client needs before its
# user signs in (WebConfigController). The web client's files are public too, through their
# routers' opt.
PUBLIC_PATHS = ["^/health", "^/metrics", "^/schema", "^/web/config$"]
# What a browser page of an API_CORS_ORIGINS origin may send ('*' would not cover Authorization).
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "X-Request-ID"]
# Swagger UI's build, from the swagger-ui-bundle-v2 wheel: the docs page loads nothing from a CDN.
SWAGGER_ASSETS = "/schema/assets"


def _docs_ui() -> SwaggerRenderPlugin:
    """Swagger UI at /schema and /schema/swagger, from SWAGGER_ASSETS."""
    return SwaggerRenderPlugin(
        js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )


class ApplicationCore(InitPluginProtocol):
    """Everything the API is made of, from one settings tree.

    `tools`, the tools offered to the model, default to the built-ins CHAT_TOOLS names (a
    service adds its own by passing a registry, see docs/chat.md). Raises RuntimeError when
    API_AUTH=disabled is asked for on a non-loopback API_HOST, and ValueError when CHAT_TOOLS
    names an unknown tool.
    """

    def __init__(self, settings: Settings, tools: ToolRegistry | None = None) -> None:
        check_auth_mode(settings.server.auth, settings.server.host)
        self.settings = settings
        self.services = Services(settings, tools if tools is not None else create_tools(settings.llm))

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        settings, services = self.settings, self.services
        handlers = create_exception_handlers(settings.server.retry_after_seconds)
        app_config.route_handlers.extend(
            [
                HealthController,
                ConversationController,
                ContextController,
                MessageController,
                FeedbackController,
                SearchController,
                UsageController,
                AdminController,
                ErasureController,
                ChatController,
                TurnController,
                AISDKController,
                EventsController,
                MetricsController,
                Router(
                    "/",
                    route_handlers=[ImportController],
                    request_max_body_size=settings.server.max_import_bytes,
                ),
                create_openai_router(handlers),
                create_static_files_router(
                    SWAGGER_ASSETS,
                    directories=[Path(str(swagger_ui_path))],
                    name="swagger-ui",
                    cache_control=CacheControlHeader(max_age=86_400),
                    include_in_schema=False,
                ),
                WebConfigController,
                *web_client_routers(settings),
            ]
        )
        app_config.dependencies.update(
            {
                "services": Provide(services.provide, use_cache=True, sync_to_thread=False),
                "settings": Provide(provide_settings, sync_to_thread=False),
                "store": Provide(provide_store, sync_to_thread=False),
            }
        )
        loopback_only = settings.server.auth == "disabled"
        app_config.middleware.append(
            EntryMiddleware(
                auth=BearerAuth(
                    services.verifier, anonymous=SERVICE if loopback_only else None, exclude=PUBLIC_PATHS
                ),
                cross_site=CrossSiteRules(loopback_only=loopback_only, origins=settings.server.cors_origins),
            )
        )
        app_config.before_send.append(send_request_id)
        if settings.server.cors_origins:
            app_config.cors_config = CORSConfig(
                allow_origins=settings.server.cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=CORS_REQUEST_HEADERS,
                expose_headers=["X-Request-ID", "Retry-After"],
            )
        app_config.exception_handlers.update(handlers)
        app_config.request_class = JSONRequest
        app_config.lifespan.append(services.lifespan)
        app_config.openapi_config = OpenAPIConfig(
            title="AI conversation store",
            version=__version__,
            description="Conversation history for AI services, kept in Supabase Postgres.",
            path="/schema",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="The service role key, or a user's Supabase access token.",
                    )
                }
            ),
            security=[{"bearer": []}],
            render_plugins=[_docs_ui()],
        )
        app_config.debug = False
        # Logging is the server's (app.observability.logs, through app.serving.uvicorn_options):
        # Litestar's default config would replace its root handler, request ids and JSON lines.
        app_config.logging_config = None
        return app_config


def services_of(app: Litestar) -> Services:
    """The services of an app built with ApplicationCore (app.server.create_app): what the
    server drains before it stops, and what tests reach into while the app runs."""
    return app.plugins.get(ApplicationCore).services
