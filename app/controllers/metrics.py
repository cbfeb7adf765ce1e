"""GET /metrics: Prometheus metrics (app.observability.metrics)."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.dependencies import provide_metrics_registry
from app.observability.metrics import exposition

__all__ = ["MetricsController"]


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]
    dependencies = {"registry": Provide(provide_metrics_registry, sync_to_thread=False)}

    @get(
        "/",
        summary="Prometheus metrics",
        description="Text exposition format. No token needed, like /health: the labels are route "
        "templates, SQL function names and error codes, never conversation ids or user data.",
        operation_id="metrics",
    )
    async def metrics(self, registry: NamedDependency[CollectorRegistry]) -> Response[bytes]:
        return Response(exposition(registry), media_type=CONTENT_TYPE_LATEST)
