"""How the API is served: the uvicorn options that go with the factory (`uvicorn_options`),
and the server `python -m app serve` (what `make run` serves) runs the app in (`run_server`:
uvicorn, stopping gracefully with event streams open).

The factory itself is app.server.create_app; this module only names it (`uvicorn --factory
app.server:create_app` builds it in the worker), so the CLI's `serve` can run the app the CLI
was started with without importing the module that registers the CLI.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from litestar import Litestar

from app.config import Settings
from app.core import services_of
from app.observability import logging_config
from app.protocol import deadline_protocol

__all__ = ["Server", "run_server", "uvicorn_options"]


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


def run_server(app: Litestar, *, host: str | None = None, port: int | None = None) -> None:
    """Serve `app` (built with ApplicationCore: app.server.create_app, or a service's own
    factory) with the uvicorn_options of its settings, in a Server, until a signal."""
    options = {
        **uvicorn_options(services_of(app).settings, host=host, port=port),
        "app": app,
        "factory": False,
    }
    Server(app, uvicorn.Config(**options)).run()
