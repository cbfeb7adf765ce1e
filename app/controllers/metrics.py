"""GET /metrics: Prometheus metrics (app.observability.metrics)."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.dependencies import provide_metrics_registry
from app.observability.metrics import exposition

__all__ = ["MetricsController"]

# Litestar adds "; charset=utf-8" to every text/* type: without this it would come twice.
_MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")
_EXAMPLE = (
    "# HELP api_requests_total HTTP requests answered, by route template and status\n"
    "# TYPE api_requests_total counter\n"
    'api_requests_total{method="GET",route="/health",status="200"} 12.0\n'
)


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
        media_type=_MEDIA_TYPE,
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type=_MEDIA_TYPE,
                description="Prometheus text exposition",
                generate_examples=False,
                examples=[Example(summary="One counter", value=_EXAMPLE)],
            )
        },
    )
    async def metrics(self, registry: NamedDependency[CollectorRegistry]) -> Response[bytes]:
        return Response(exposition(registry), media_type=_MEDIA_TYPE)
