"""What an operator sees of the API: Prometheus metrics, request ids, logs, traces."""

from __future__ import annotations

from app.observability.logs import logging_config
from app.observability.metrics import (
    MetricsMiddleware,
    measured_provider,
    measured_transport,
    services_registry,
)
from app.observability.request_id import REQUEST_ID, RequestIdFilter, RequestIdMiddleware, send_request_id
from app.observability.tracing import tracing_plugin

__all__ = [
    "REQUEST_ID",
    "MetricsMiddleware",
    "RequestIdFilter",
    "RequestIdMiddleware",
    "logging_config",
    "measured_provider",
    "measured_transport",
    "send_request_id",
    "services_registry",
    "tracing_plugin",
]
