"""The application factory: `uvicorn --factory app.server:create_app`, the server options that
go with it (`uvicorn_options`), and the server `python -m app serve` (what `make run` serves)
runs it in (`run_server`: uvicorn, stopping gracefully with event streams open)."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from litestar import Litestar

from app.cli import ConversationsCLI
from app.config import Settings, get_settings
from app.core import ApplicationCore
from app.examples import schema_examples
from app.llm import ToolRegistry
from app.observability import logging_config, tracing_plugin
from app.protocol import deadline_protocol
from app.services import services_of

__all__ = ["Server", "create_app", "run_server", "uvicorn_options"]


def create_app(settings: Settings | None = None, *, tools: ToolRegistry | None = None) -> Litestar:
    """The API over the configured store: `settings` default to the environment's
    (app.config), `tools` to the built-ins CHAT_TOOLS names (see ApplicationCore). The
    operator commands (app.cli) ride on Litestar's CLI as a plugin of the same app."""
    settings = settings or get_settings()
    tracing = tracing_plugin(settings)
    return Litestar(
        # schema_examples() before Litestar's own schema plugins, which come after these.
        plugins=[
            ApplicationCore(settings, tools),
            schema_examples(),
            ConversationsCLI(),
            *([tracing[0]] if tracing else []),
        ],
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
    request ids), the bounds on slow clients (app.protocol: header and body deadlines;
    keep-alive; optional concurrency limit) and on shutdown (API_SHUTDOWN_TIMEOUT_SECONDS).
    Proxy headers are not trusted. `run_server` adds the event streams' drain."""
    server = settings.server
    return {
        "app": "app.server:create_app",
        "factory": True,
        "host": host or server.host,
        "port": server.port if port is None else port,  # 0: any free port (logged)
        "log_level": server.log_level,
        "log_config": logging_config(settings),
        "proxy_headers": False,
        "http": deadline_protocol(server.header_timeout_seconds, server.body_timeout_seconds),
        "timeout_keep_alive": server.keep_alive_seconds,
        "limit_concurrency": server.limit_concurrency,
        "timeout_graceful_shutdown": server.shutdown_timeout_seconds,
    }


class Server(uvicorn.Server):
    """uvicorn's server, stopping gracefully with event streams open.

    On SIGTERM (or SIGINT) uvicorn stops accepting connections, waits for the open ones to
    close (at most `timeout_graceful_shutdown`, API_SHUTDOWN_TIMEOUT_SECONDS, then cancels
    what still runs) and only then runs the lifespan's shutdown. An event stream never closes
    by itself, so without more every one of them held the process until its client hung up.
    This server drains the app first (app.services.Services.drain: every stream gets its
    `shutdown` event and ends), then lets uvicorn wait for the requests in flight."""

    def __init__(self, app: Litestar, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await services_of(self.app).drain()
        await super().shutdown(sockets)


def run_server(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the API built from `settings` with uvicorn_options, in a Server, until a signal."""
    app = create_app(settings)
    options = {**uvicorn_options(settings, host=host, port=port), "app": app, "factory": False}
    Server(app, uvicorn.Config(**options)).run()
