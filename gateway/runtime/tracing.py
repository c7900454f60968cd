"""Optional OpenTelemetry tracing (`tracing.enabled`, off by default): a server span per request, one span per
mediator, one per outbound call (endpoint or connector operation), with W3C `traceparent` taken from the client
and sent on. The SDK is imported only when tracing is on (`pip install synapse-gateway[tracing]`).

Each serving process has its own tracer provider (none is installed globally); spans nest through the context
variables OpenTelemetry keeps per asyncio task, so concurrent messages never mix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

    from gateway.settings import Settings

INSTRUMENTATION = "synapse-gateway"


class TracingUnavailable(RuntimeError):
    """tracing.enabled without the OpenTelemetry SDK (or the OTLP exporter) installed."""


def tracer_for(settings: Settings) -> Tracer | None:
    tracing = settings.tracing
    if not tracing.enabled:
        return None
    try:
        if tracing.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter: SpanExporter = OTLPSpanExporter(**({"endpoint": tracing.endpoint} if tracing.endpoint else {}))
        else:
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporter = ConsoleSpanExporter()
    except ImportError as exc:
        package = "opentelemetry-exporter-otlp-proto-http" if tracing.exporter == "otlp" else "opentelemetry-sdk"
        raise TracingUnavailable(
            f"tracing.enabled needs {package} ({exc.name} is not installed): pip install 'synapse-gateway[tracing]'"
        ) from None
    return build_tracer(exporter, tracing.service_name)


def build_tracer(exporter: SpanExporter, service_name: str = INSTRUMENTATION, batch: bool = True) -> Tracer:
    """A tracer of its own provider, exporting to `exporter` (batched, or one by one when `batch` is false)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider.get_tracer(INSTRUMENTATION)


def client_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT


def server_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.SERVER


def extract(headers: Any) -> Any:
    """The client's trace context (W3C traceparent), to parent the server span."""
    from opentelemetry.propagate import extract as extract_context

    return extract_context(headers)


def inject(headers: Any) -> None:
    """Send the current span's trace context on (W3C traceparent)."""
    from opentelemetry.propagate import inject as inject_context

    inject_context(headers)


def mark_error(span: Any, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))
