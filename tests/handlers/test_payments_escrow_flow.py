"""Handler tests on FastStream's in-memory Kafka test broker: the real subscribers, consumer path,
outbox and relay of payments and escrow, with SQLite, and no broker process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker

from services.escrow.app import build as build_escrow
from services.payments.app import build as build_payments
from shared import topics
from tests.factories import create_order, encode, pay_order


async def _published(runtime: Any, topic: str, type_: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Messages of ``type_`` the runtime's relay published to ``topic`` (after the relay catches up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await runtime.relay.relay_once()
        found = [m for m in runtime.sent if m["topic"] == topic and m["type"] == type_]
        if found or asyncio.get_running_loop().time() > deadline:
            return [m["body"] for m in found]
        await asyncio.sleep(0.02)


class Recorder:
    def __init__(self, runtime: Any) -> None:
        runtime.sent = []
        original = runtime._publish

        async def publish(row: Any) -> Any:
            runtime.sent.append({"topic": row.topic, "type": row.type, "body": json.loads(row.payload)})
            return await original(row)

        runtime.relay.publish = publish


@pytest.fixture
async def payments(data_dir: Path):  # type: ignore[no-untyped-def]
    runtime = build_payments()
    Recorder(runtime)
    async with TestKafkaBroker(runtime.broker) as broker:
        await runtime.start_storage()
        yield runtime, broker
        await runtime.stop()


async def test_create_and_pay_by_qr_code_requests_a_charge(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(encode(create_order("O-H-1")), topics.commands("payments"), key=b"O-H-1")
    created = await _published(runtime, topics.events("payments"), "payments.order.created")
    assert created[0]["data"]["amount"] == {"amount": 12900, "currency": "CNY"}
    assert created[0]["correlation_id"] == "flow-O-H-1"

    await broker.publish(encode(pay_order("O-H-1")), topics.commands("payments"), key=b"O-H-1")
    intents = await _published(runtime, topics.events("payments"), "payments.intent.created")
    assert intents[0]["data"]["qr_payload"].startswith("https://pay.danbao.example/p/PI-O-H-1-1?token=")
    charges = await _published(runtime, topics.PSP_REQUESTS, "psp.charge.requested")
    assert charges[0]["data"]["intent_id"] == "PI-O-H-1-1"


async def test_wrong_actor_is_rejected_with_a_reason(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(encode(create_order("O-H-2")), topics.commands("payments"), key=b"O-H-2")
    await broker.publish(encode(pay_order("O-H-2", buyer="B-SOMEONE-ELSE")), topics.commands("payments"), key=b"O-H-2")
    rejected = await _published(runtime, topics.events("payments"), "payments.command.rejected")
    assert rejected[0]["data"]["reason"] == "wrong_actor"
    assert rejected[0]["data"]["command_type"] == "payments.order.pay"
    assert not [m for m in runtime.sent if m["type"] == "psp.charge.requested"]


async def test_malformed_json_is_dead_lettered_and_the_next_command_still_works(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(b"{not json", topics.commands("payments"), key=b"O-H-3", timestamp_ms=1)
    await broker.publish(encode(create_order("O-H-3")), topics.commands("payments"), key=b"O-H-3", timestamp_ms=2)
    dead = await _published(runtime, topics.dead_letters("payments"), "deadletter.recorded")
    assert dead[0]["data"]["reason"] == "malformed_json"
    assert dead[0]["data"]["original"] == "{not json"
    assert await _published(runtime, topics.events("payments"), "payments.order.created")


async def test_escrow_holds_a_guaranteed_payment(data_dir: Path) -> None:
    runtime = build_escrow()
    Recorder(runtime)
    succeeded = {
        "event_id": "5d0f7a9e-1111-4a4a-8b8b-000000000001", "type": "payments.payment.succeeded", "version": 1,
        "occurred_at": "2026-11-23T08:30:00Z", "producer": "payments", "correlation_id": "flow-O-H-4",
        "actor": {"kind": "system", "id": "payments"},
        "data": {"order_id": "O-H-4", "intent_id": "PI-O-H-4-1", "merchant_id": "M-1", "buyer_id": "B-1",
                 "amount": {"amount": 10000, "currency": "CNY"}, "fee": 60, "guaranteed": True,
                 "auto_confirm_days": 7, "method": "qr_code", "provider_txn_id": "PSP-1"},
    }
    async with TestKafkaBroker(runtime.broker) as broker:
        await runtime.start_storage()
        for _ in range(2):  # the same event twice: one hold
            await broker.publish(encode(succeeded), topics.events("payments"), key=b"O-H-4")
        holds = await _published(runtime, topics.events("escrow"), "escrow.hold.created")
        entries = await _published(runtime, topics.events("escrow"), "escrow.ledger.entry_posted")
        await runtime.stop()
    assert len(holds) == 1 and holds[0]["data"]["hold_id"] == "H-O-H-4"
    assert len(entries) == 1
    assert sum(line["amount"] for line in entries[0]["data"]["lines"]) == 0


async def test_only_an_active_merchant_may_create_orders(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(encode(create_order("O-H-5", merchant="M-NOT-ONBOARDED")), topics.commands("payments"), key=b"O-H-5")
    rejected = await _published(runtime, topics.events("payments"), "payments.command.rejected")
    assert rejected[0]["data"]["reason"] == "merchant_not_active"
    assert not [m for m in runtime.sent if m["type"] == "payments.order.created"]
