"""The services behind the handlers, opened and closed with the application.

`Services.lifespan` is the app's lifespan: it opens the connection pool and the store (over
the configured transport), the model provider and the realtime hub, and closes them in
reverse order. Handlers never see this object: they receive what they need through the
`provide_*` dependencies of app.dependencies, declared where they are used.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from litestar import Litestar
from psycopg_pool import AsyncConnectionPool

from app.auth import TokenVerifier
from app.config import Settings
from app.db import HealthProbe
from app.llm import Compactor, Provider, ToolRegistry, create_provider
from app.observability import measured_transport, services_registry
from app.realtime import Hub, create_hub
from app.store import ConversationManager
from app.store.factory import open_store
from app.turns import TurnRunner, TurnStreams

__all__ = ["Running", "Services"]

log = logging.getLogger("app")


@dataclass(slots=True)
class Running:
    """What the lifespan opened; exists only while the application runs (tests may swap a
    part, e.g. the provider, while it does)."""

    pool: AsyncConnectionPool
    store: ConversationManager
    provider: Provider
    hub: Hub
    probe: HealthProbe
    compactor: Compactor
    streams: TurnStreams
    runner: TurnRunner


class Services:
    """The settings, the token verifier and the chat tools (built with the app), and what
    the lifespan opens (`running`)."""

    def __init__(self, settings: Settings, tools: ToolRegistry) -> None:
        self.settings = settings
        self.tools = tools
        self.verifier = TokenVerifier(settings)
        self.metrics = services_registry(lambda: self._running)  # what /metrics reads of them
        self._running: Running | None = None

    @property
    def running(self) -> Running:
        if self._running is None:
            raise RuntimeError("the application's services are not started (outside its lifespan)")
        return self._running

    def provide(self) -> Services:
        """The root of every provide_* dependency."""
        return self

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        if settings.server.auth == "disabled":
            log.warning(
                "API_AUTH=disabled: requests without a token act as the service (full access). "
                "Serving on %s only.",
                settings.server.host,
            )
        if settings.llm.uses_offline:
            log.info("/chat uses the offline echo provider (no model configured: set LLM_BASE_URL)")
        async with open_store(settings) as (pool, service_store):
            # Measured once here: every store call, the handlers' and the hub's.
            store = ConversationManager(measured_transport(service_store.transport))
            provider = create_provider(settings.llm)
            # The hub reads as the service; each stream is authorized as its caller first.
            hub = create_hub(settings, store)
            # Turn streams read as the service too (each reader is authorised as its caller first),
            # live through the hub's feed when it carries turns, else by polling.
            feed = hub.feed
            streams = TurnStreams(
                store,
                feed_live=lambda: feed is not None and feed.carries_turns and feed.connected,
                poll_seconds=settings.turns.poll_seconds,
            )
            hub.turns = streams
            runner = TurnRunner(
                streams,
                store,
                journal=settings.turns.stream == "database",
                flush_seconds=settings.turns.flush_seconds,
            )
            await hub.start()  # returns at once: the feed connects (and reconnects) in the background
            runner.start()
            probe = HealthProbe(settings.db)
            compactor = Compactor()
            self._running = Running(pool, store, provider, hub, probe, compactor, streams, runner)
            try:
                yield
            finally:
                self._running = None
                # Turns still running (drain() waited for them on a signal): cancelled, failed by their lease.
                await runner.shutdown(0)
                streams.close()
                await hub.stop()  # ends every stream with a `shutdown` event (if drain() did not)
                await compactor.aclose()  # summaries in flight are still due on a later turn
                await probe.close()
                await provider.aclose()
                await self.verifier.close()

    async def drain(self) -> None:
        """The server is stopping: let the running turns finish (up to API_SHUTDOWN_TIMEOUT_SECONDS,
        see app.turns.runner), then end every event stream now, with its `shutdown` event, and
        refuse new ones (503). Called by the server (app.serving.Server) before it waits for
        open connections, since it runs the lifespan's shutdown only after they all closed; an
        event stream would otherwise keep its connection, and the process, alive."""
        running = self._running
        if running is not None:
            # Running turns first: they get API_SHUTDOWN_TIMEOUT_SECONDS to finish (their readers'
            # streams end with them); then every turn stream read here ends with `shutdown`.
            await running.runner.shutdown(self.settings.server.shutdown_timeout_seconds)
            running.streams.close()
            await running.hub.stop()
