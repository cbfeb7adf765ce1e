"""The application factory: `uvicorn --factory app.server:create_app` (what `make run` serves),
and the server options that go with it (`uvicorn_options`)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from app.cli import ConversationsCLI
from app.config import Settings, get_settings
from app.core import ApplicationCore
from app.llm import ToolRegistry
from app.observability import logging_config, tracing_plugin
from app.protocol import deadline_protocol

__all__ = ["create_app", "uvicorn_options"]


def create_app(settings: Settings | None = None, *, tools: ToolRegistry | None = None) -> Litestar:
    """The API over the configured store: `settings` default to the environment's
    (app.config), `tools` to the built-ins CHAT_TOOLS names (see ApplicationCore). The
    operator commands (app.cli) ride on Litestar's CLI as a plugin of the same app."""
    settings = settings or get_settings()
    tracing = tracing_plugin(settings)
    return Litestar(
        plugins=[ApplicationCore(settings, tools), ConversationsCLI(), *([tracing[0]] if tracing else [])],
        on_shutdown=[tracing[1]] if tracing else [],
        # Litestar 2.25 reads the app-wide body limit from this argument only, not from the
        # AppConfig a plugin returns.
        request_max_body_size=settings.server.max_body_bytes,
    )


def uvicorn_options(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> dict[str, Any]:
    """What `uvicorn.run(**uvicorn_options(settings))` serves the API with: the factory, the
    address (`host`/`port` override API_HOST/API_PORT), the logging (LOG_LEVEL, LOG_FORMAT,
    request ids) and the bounds on slow clients (app.protocol: header and body deadlines;
    keep-alive; optional concurrency limit). Proxy headers are not trusted."""
    server = settings.server
    return {
        "app": "app.server:create_app",
        "factory": True,
        "host": host or server.host,
        "port": port or server.port,
        "log_level": server.log_level,
        "log_config": logging_config(settings),
        "proxy_headers": False,
        "http": deadline_protocol(server.header_timeout_seconds, server.body_timeout_seconds),
        "timeout_keep_alive": server.keep_alive_seconds,
        "limit_concurrency": server.limit_concurrency,
    }
