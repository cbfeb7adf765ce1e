"""What an operator sees of the API: Prometheus metrics, request ids, logs, traces."""

from __future__ import annotations

from app.observability.logs import logging_config
from app.observability.metrics import (
    measured_provider,
    measured_transport,
    observe_request,
    services_registry,
)
from app.observability.request_id import REQUEST_ID, RequestIdFilter, send_request_id
from app.observability.tracing import tracing_plugin

__all__ = [
    "REQUEST_ID",
    "RequestIdFilter",
    "logging_config",
    "measured_provider",
    "measured_transport",
    "observe_request",
    "send_request_id",
    "services_registry",
    "tracing_plugin",
]
