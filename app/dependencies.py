"""The provide_* dependencies: how a handler receives the services it declares.

`services` (app.services.Services) is the root, registered once by the application; every
other dependency is derived from it and from the request, and is declared on the controller
(or app) that uses it. Nothing is looked up on `app.state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.db import HealthProbe
from app.observability import measured_provider
from app.realtime import Hub
from app.services import Services
from app.store import ConversationManager, Principal
from app.turns import TurnEngine, TurnRunner, TurnStreams

__all__ = [
    "TurnFace",
    "provide_engine",
    "provide_health_probe",
    "provide_hub",
    "provide_metrics_registry",
    "provide_pool",
    "provide_service_store",
    "provide_settings",
    "provide_store",
    "provide_turn_face",
    "provide_turn_runner",
    "provide_turn_streams",
    "turn_dependencies",
]


def provide_settings(services: NamedDependency[Services]) -> Settings:
    return services.settings


def provide_store(
    services: NamedDependency[Services], request: Request[Principal, Any, State]
) -> ConversationManager:
    """The store acting as the request's principal (shares the transport: no I/O)."""
    return services.running.store.as_principal(request.user)


def provide_service_store(services: NamedDependency[Services]) -> ConversationManager:
    """The store acting as the service, for routes without a principal (/health)."""
    return services.running.store


def provide_pool(services: NamedDependency[Services]) -> AsyncConnectionPool:
    return services.running.pool


def provide_health_probe(services: NamedDependency[Services]) -> HealthProbe:
    return services.running.probe


def provide_hub(services: NamedDependency[Services]) -> Hub:
    return services.running.hub


def provide_metrics_registry(services: NamedDependency[Services]) -> CollectorRegistry:
    """The registry of this app's running services (the pool's and the hub's numbers)."""
    return services.metrics


def provide_engine(
    services: NamedDependency[Services], store: NamedDependency[ConversationManager]
) -> TurnEngine:
    """Turns as the request's principal, with the configured model (its calls measured for
    /metrics), tools, and the process's summaries in the background: what every face runs."""
    running = services.running
    provider = measured_provider(running.provider)
    return TurnEngine(store, provider, services.tools, services.settings.llm, running.compactor)


def provide_turn_runner(services: NamedDependency[Services]) -> TurnRunner:
    """The process's turn runner: every turn runs there, whatever its client does."""
    return services.running.runner


def provide_turn_streams(services: NamedDependency[Services]) -> TurnStreams:
    """The process's turn streams: any turn's events, from any position."""
    return services.running.streams


@dataclass(frozen=True, slots=True)
class TurnFace:
    """What a face's turn handler runs a turn with: the engine as the request's principal, the
    process's runner and its streams. One dependency rather than three: Litestar resolves the
    dependencies of one level of its graph concurrently, in a task group with a task each (about
    55 us a request), and resolves a lone one directly."""

    engine: TurnEngine
    runner: TurnRunner
    streams: TurnStreams


def provide_turn_face(
    services: NamedDependency[Services], store: NamedDependency[ConversationManager]
) -> TurnFace:
    running = services.running
    return TurnFace(provide_engine(services, store), running.runner, running.streams)


def turn_dependencies() -> dict[str, Provide]:
    """What a face of the turn engine declares (/chat, /v1/responses, /api/chat): the engine
    that begins a turn, the runner that runs it, the streams that read it back. A new dict each
    time: Litestar keeps a controller's mapping as its own. A handler that begins turns declares
    `face` (all three at once); one that only reads or stops them, `streams` or `runner`."""
    return {
        "face": Provide(provide_turn_face, sync_to_thread=False),
        "engine": Provide(provide_engine, sync_to_thread=False),
        "runner": Provide(provide_turn_runner, sync_to_thread=False),
        "streams": Provide(provide_turn_streams, sync_to_thread=False),
    }
