"""With tracing off (no tracer provider), a message without a trace costs no span and its events carry no trace;
a message with one still passes it along unchanged (shared/tracing.py)."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from shared import tracing

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing.trace, "get_tracer_provider", lambda: trace.ProxyTracerProvider())


def test_a_message_without_a_trace_is_handled_without_one() -> None:
    with tracing.consuming([("type", b"payments.order.created")], "payments.order.created", "danbao.payments.events"):
        assert tracing.inject({}) == {}
        assert not trace.get_current_span().get_span_context().is_valid


def test_a_message_with_a_trace_passes_it_along_unchanged() -> None:
    with tracing.consuming([("traceparent", INCOMING.encode())], "payments.order.created", "danbao.payments.events"):
        assert tracing.inject({}) == {"traceparent": INCOMING}
    assert tracing.inject({}) == {}
