"""The application factory (`uvicorn --factory app.server:create_app`) and the server that
`python -m app serve` (what `make run` serves) runs it in."""

from __future__ import annotations

import socket

import uvicorn
from litestar import Litestar

from app.cli import ConversationsCLI
from app.config import Settings, get_settings
from app.core import ApplicationCore
from app.llm import ToolRegistry
from app.services import services_of

__all__ = ["Server", "create_app"]


def create_app(settings: Settings | None = None, *, tools: ToolRegistry | None = None) -> Litestar:
    """The API over the configured store: `settings` default to the environment's
    (app.config), `tools` to the built-ins CHAT_TOOLS names (see ApplicationCore). The
    operator commands (app.cli) ride on Litestar's CLI as a plugin of the same app."""
    settings = settings or get_settings()
    return Litestar(
        plugins=[ApplicationCore(settings, tools), ConversationsCLI()],
        # Litestar 2.25 reads the app-wide body limit from this argument only, not from the
        # AppConfig a plugin returns.
        request_max_body_size=settings.server.max_body_bytes,
    )


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

    @classmethod
    def for_app(cls, app: Litestar, settings: Settings, *, host: str, port: int) -> Server:
        return cls(
            app,
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level=settings.server.log_level,
                proxy_headers=False,
                timeout_graceful_shutdown=settings.server.shutdown_timeout_seconds,
            ),
        )
