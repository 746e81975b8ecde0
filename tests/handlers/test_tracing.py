"""One lifecycle is one trace: each message is handled in a span that continues the trace its headers carry, and
what it emits carries that span onward (shared/tracing.py). Spans recorded in memory here; OTLP in a deployment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import select

from services.payments.app import build as build_payments
from shared import topics
from shared.messaging import OutboxMessage
from tests.factories import create_order, encode, pay_order
from tests.handlers.harness import published, serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def test_a_command_s_trace_continues_into_what_it_causes(spans: InMemorySpanExporter, data_dir: Path) -> None:
    async with serving(build_payments()) as (runtime, broker):
        await broker.publish(encode(create_order("O-T-1")), topics.commands("payments"), key=b"O-T-1",
                             headers={"traceparent": INCOMING})
        await published(runtime, topics.events("payments"), "payments.order.created")
        await broker.publish(encode(pay_order("O-T-1")), topics.commands("payments"), key=b"O-T-1",
                             headers={"traceparent": INCOMING})
        await published(runtime, topics.PSP_REQUESTS, "psp.charge.requested")
        async with runtime.db.transaction() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
    handled = {span.name: span for span in spans.get_finished_spans()}
    for name in ("process payments.order.create", "process payments.order.pay"):
        span = handled[name]
        assert format(span.context.trace_id, "032x") == TRACE_ID  # the caller's trace, continued
        assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    emitted = {row.type: json.loads(row.headers)["traceparent"] for row in rows}
    assert set(emitted) >= {"payments.order.created", "payments.intent.created", "psp.charge.requested"}
    for type_, traceparent in emitted.items():
        assert traceparent.split("-")[1] == TRACE_ID, type_  # the provider, escrow and the rest go on in it
    charge_span = format(handled["process payments.order.pay"].context.span_id, "016x")
    assert emitted["psp.charge.requested"].split("-")[2] == charge_span  # caused by that very handling
