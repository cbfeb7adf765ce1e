"""OpenTelemetry traces, exported over OTLP/HTTP when an endpoint is configured (off by
default): Litestar's OpenTelemetryPlugin (the ASGI instrumentation) with a tracer provider of
its own, flushed when the app shuts down."""

from __future__ import annotations

from collections.abc import Callable

from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

from app.config import Settings

__all__ = ["tracing_plugin"]


def tracing_plugin(settings: Settings) -> tuple[OpenTelemetryPlugin, Callable[[], None]] | None:
    """The plugin and the shutdown hook that flushes its spans, when OTEL_EXPORTER_OTLP_ENDPOINT
    is set; else None."""
    endpoint = settings.observability.otlp_endpoint
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.observability.service_name}))
    # The variable names the collector's base URL; the exporter posts to its /v1/traces.
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    )
    config = OpenTelemetryConfig(tracer_provider=provider, exclude=["^/metrics", "^/health"])
    return OpenTelemetryPlugin(config), provider.shutdown
