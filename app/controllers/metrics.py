"""GET /metrics: Prometheus metrics (app.observability.metrics)."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.observability.metrics import exposition
from app.services import Services

__all__ = ["MetricsController"]


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]

    @get(
        "/",
        summary="Prometheus metrics",
        description="Text exposition format. No token needed, like /health: the labels are route "
        "templates, SQL function names and error codes, never conversation ids or user data.",
        operation_id="metrics",
    )
    async def metrics(self, services: NamedDependency[Services]) -> Response[bytes]:
        return Response(exposition(services.metrics), media_type=CONTENT_TYPE_LATEST)
