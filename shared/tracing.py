"""Tracing across Kafka with OpenTelemetry: one lifecycle is one trace.

A consumer continues the trace whose context (W3C ``traceparent``) came in the record's headers: each message is
handled in a span ``process <type>``, and every event it emits carries that span's context in its outbox row's
headers, so the next service continues the same trace. A timer starts a new trace. Spans go to an OTLP collector
when ``DANBAO_OTEL_EXPORTER_OTLP_ENDPOINT`` is set (e.g. ``http://otel-collector:4318``); otherwise tracing is off
and costs one no-op call per message (the context still passes along, unchanged).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

_tracer = trace.get_tracer("danbao")


def configure(service: str, endpoint: str | None) -> bool:
    """Export this process's spans to ``endpoint`` (OTLP over HTTP); returns whether tracing is on."""
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"danbao-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    trace.set_tracer_provider(provider)
    return True


_TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})


def _carrier(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    return {name: value.decode("latin-1") for name, value in headers or () if isinstance(value, bytes)}


@contextmanager
def consuming(headers: Sequence[tuple[str, bytes]] | None, type_name: str, topic: str) -> Iterator[None]:
    """Handle one message inside a span that continues the trace its headers carry. With tracing off and no trace
    in the headers there is nothing to record or pass along: no span."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) \
            and not any(name in _TRACE_HEADERS for name, _ in headers or ()):
        yield
        return
    context = propagate.extract(_carrier(headers))
    with _tracer.start_as_current_span(f"process {type_name}", context=context, kind=SpanKind.CONSUMER, attributes={
            "messaging.system": "kafka", "messaging.destination.name": topic, "messaging.operation.type": "process",
            "danbao.message.type": type_name}):
        yield


def inject(headers: dict[str, Any]) -> dict[str, Any]:
    """``headers`` with the current trace context added (nothing when there is none)."""
    propagate.inject(headers)
    return headers
