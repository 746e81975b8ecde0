"""A consumed batch is handled on the event loop: FastStream hands the subscribers their raw records from the
decoder, with no dependency it would resolve on a worker thread (a thread hop per batch, which the bench measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fast_depends.utils
import pytest
from faststream.kafka import TestKafkaBroker

from services.payments.app import build as build_payments
from services.simulators import psp
from shared import topics
from shared.contracts import psp as psp_contracts
from shared.envelope import Actor, ActorKind, Envelope
from shared.settings import PlatformSettings
from tests.factories import create_order, encode
from tests.handlers.harness import published, serving


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of what FastStream's dependency solver ran on a worker thread."""
    seen: list[str] = []
    original = fast_depends.utils.run_in_threadpool

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(func, "__qualname__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fast_depends.utils, "run_in_threadpool", counted)
    return seen


async def test_a_service_handles_its_batch_without_a_worker_thread(data_dir: Path, hops: list[str]) -> None:
    async with serving(build_payments()) as (runtime, broker):
        await broker.publish(encode(create_order("O-HOP-1")), topics.commands("payments"), key=b"O-HOP-1")
        assert await published(runtime, topics.events("payments"), "payments.order.created")
        assert runtime.consumer_health.positions  # the batch's records reached the health check too
    assert hops == []


async def test_a_simulator_answers_its_batch_without_a_worker_thread(hops: list[str]) -> None:
    app = psp.build(psp.PspSimulatorSettings(), PlatformSettings())[0]
    replies: list[str] = []

    @app.broker.subscriber(psp_contracts.CALLBACKS.topic)
    async def listen(body: Any) -> None:
        replies.append(json.loads(body)["type"] if isinstance(body, (bytes, str)) else body["type"])

    request = Envelope(type=psp_contracts.ChargeRequested.TYPE, producer="payments",
                       data=psp_contracts.ChargeRequested(
                           intent_id="PI-O-HOP-2-1", order_id="O-HOP-2", method="qr_code",
                           amount={"amount": 12900, "currency": "CNY"}, buyer_ref="B-2001"),
                       actor=Actor(kind=ActorKind.SYSTEM, id="payments"))
    async with TestKafkaBroker(app.broker) as broker:
        await broker.publish(request.to_json(), psp_contracts.REQUESTS.topic, key=b"O-HOP-2")
    assert replies == ["psp.charge.completed"]
    assert hops == []
