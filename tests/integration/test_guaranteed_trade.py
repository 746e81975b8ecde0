"""A guaranteed trade's life through the real broker and processes: pay, hold, ship, then
release by the buyer's confirmation or by the auto-confirm deadline on the test clock."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import advance_clock, confirm_receipt, create_order, pay_order, record_shipment
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


async def _paid_and_held(kafka: Kafka, order_id: str) -> None:
    await kafka.send("danbao.payments.commands", create_order(order_id), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.ledger.entry_posted", order_id=order_id, kind="payment_held"))


async def test_the_buyer_confirms_receipt_and_only_the_buyer_may(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await _paid_and_held(kafka, order_id)
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id, buyer="B-INTRUDER"), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id), key=order_id)
    events = await kafka.read_until("danbao.escrow.events", _has("escrow.ledger.entry_posted", order_id=order_id, kind="hold_released"))
    mine = [m for m in events if m["data"].get("order_id") == order_id or m["data"].get("aggregate_id") == order_id]
    assert [m["type"] for m in mine] == [
        "escrow.hold.created", "escrow.ledger.entry_posted", "escrow.shipment.recorded",
        "escrow.command.rejected", "escrow.hold.released", "escrow.ledger.entry_posted"]
    rejected = mine[3]["data"]
    assert rejected["reason"] == "wrong_actor" and rejected["command_type"] == "escrow.receipt.confirm"
    released = mine[4]["data"]
    assert (released["amount"]["amount"], released["fee"], released["net"], released["reason"]) == (12900, 77, 12823, "buyer_confirmed")
    lines = {line["account"]: line["amount"] for line in mine[5]["data"]["lines"]}
    assert lines == {"escrow_holding": 12900, "merchant_available:M-1001": -12823, "platform_fees": -77}


async def test_receipt_is_confirmed_automatically_when_the_deadline_passes(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await _paid_and_held(kafka, order_id)
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    shipped = await kafka.read_until("danbao.escrow.events", _has("escrow.shipment.recorded", order_id=order_id))
    assert not any(of("escrow.hold.released", order_id=order_id)(m) for m in shipped)

    tag = f"clock-{order_id}"
    await kafka.send("danbao.control.commands", advance_clock(8 * 86400, tag), key="clock")  # seven days pass, and one more
    await kafka.read_until("danbao.control.events", lambda ms: any(m["correlation_id"] == tag and m["data"]["service"] == "escrow" for m in ms))
    events = await kafka.read_until("danbao.escrow.events", _has("escrow.hold.released", order_id=order_id), timeout=30)
    released = next(m for m in events if of("escrow.hold.released", order_id=order_id)(m))
    assert released["data"]["reason"] == "auto_confirmed" and released["actor"] == {"kind": "system", "id": "escrow"}
    assert released["correlation_id"] == f"flow-{order_id}"  # the timer keeps the flow's correlation id
    assert released["data"]["net"] == 12823
