"""An app served by uvicorn inside the test's own event loop, on a free loopback port: for
clients that need a real socket (the official openai SDK, a client that leaves mid-stream, a
streaming request the test client would buffer), while the test can still reach into the
app's running services (app.core.services_of).

`serve_app(app)` yields the base URL once uvicorn has started (the lifespan ran and the port
is bound: the server says so, nothing is polled) and stops it on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from litestar import Litestar

__all__ = ["serve_app"]


class _Server(uvicorn.Server):
    """uvicorn's server, announcing that it serves (uvicorn only sets a flag)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.serving = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # raises SystemExit when the lifespan or the bind failed
        self.serving.set()


@contextlib.asynccontextmanager
async def serve_app(app: Litestar, within: float = 30.0) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (any free port) until the block ends; yields its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    serving = asyncio.create_task(server.serving.wait())
    try:
        done, _ = await asyncio.wait({task, serving}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if serving not in done:
            if task in done:
                raise RuntimeError("uvicorn stopped before it served") from task.exception()
            raise TimeoutError(f"uvicorn did not serve within {within} s")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        serving.cancel()
        server.should_exit = True
        await task
