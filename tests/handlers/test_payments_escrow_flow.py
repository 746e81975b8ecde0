"""Handler tests on FastStream's in-memory Kafka test broker: the real subscribers, consumer path,
outbox and relay of payments and escrow, with SQLite, and no broker process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.escrow import store as escrow_store
from services.escrow.app import build as build_escrow
from services.payments.app import build as build_payments
from services.payments.store import LateCaptureRow, load_order
from shared import topics
from shared.consumer import parked_messages
from shared.contracts import payments as payments_contracts
from shared.contracts import psp
from tests.factories import (
    cancel_order,
    confirm_receipt,
    create_order,
    encode,
    envelope,
    pay_order,
    payment_succeeded,
    record_shipment,
)
from tests.handlers.harness import published, serving
from shared.workspace import Workspace


@pytest.fixture
async def payments(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build_payments()) as running:
        yield running


async def test_create_and_pay_by_qr_code_requests_a_charge(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(encode(create_order("O-H-1")), topics.commands("payments"), key=b"O-H-1")
    created = await published(runtime, topics.events("payments"), "payments.order.created")
    assert created[0]["data"]["amount"] == {"amount": 12900, "currency": "CNY"}
    assert created[0]["correlation_id"] == "flow-O-H-1"

    await broker.publish(encode(pay_order("O-H-1")), topics.commands("payments"), key=b"O-H-1")
    intents = await published(runtime, topics.events("payments"), "payments.intent.created")
    assert intents[0]["data"]["intent_id"] == "PI-O-H-1-1" and intents[0]["data"]["method"] == "qr_code"
    charges = await published(runtime, topics.PSP_REQUESTS, "psp.charge.requested")
    assert charges[0]["data"]["intent_id"] == "PI-O-H-1-1"


async def test_forbidden_is_rejected_with_a_reason(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(encode(create_order("O-H-2")), topics.commands("payments"), key=b"O-H-2")
    await broker.publish(encode(pay_order("O-H-2", buyer="B-SOMEONE-ELSE")), topics.commands("payments"), key=b"O-H-2")
    rejected = await published(runtime, topics.events("payments"), "payments.command.rejected")
    assert rejected[0]["data"]["reason"] == "forbidden"
    assert rejected[0]["data"]["command_type"] == "payments.order.pay"
    assert not [m for m in runtime.sent if m["type"] == "psp.charge.requested"]


async def test_malformed_json_is_dead_lettered_and_the_next_command_still_works(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(b"{not json", topics.commands("payments"), key=b"O-H-3", timestamp_ms=1)
    await broker.publish(encode(create_order("O-H-3")), topics.commands("payments"), key=b"O-H-3", timestamp_ms=2)
    dead = await published(runtime, topics.dead_letters("payments"), "deadletter.recorded")
    assert dead[0]["data"]["reason"] == "malformed_json"
    assert dead[0]["data"]["original"] == "{not json"
    assert await published(runtime, topics.events("payments"), "payments.order.created")


async def test_escrow_holds_a_guaranteed_payment(data_dir: Path) -> None:
    succeeded = payment_succeeded("O-H-4", merchant="M-1", buyer="B-1", amount=10000, event_id="5d0f7a9e-1111-4a4a-8b8b-000000000001")
    async with serving(build_escrow()) as (runtime, broker):
        for _ in range(2):  # the same event twice: one hold
            await broker.publish(encode(succeeded), topics.events("payments"), key=b"O-H-4")
        holds = await published(runtime, topics.events("escrow"), "escrow.hold.created")
        entries = await published(runtime, topics.events("escrow"), "escrow.ledger.entry_posted")
    assert len(holds) == 1 and holds[0]["data"]["hold_id"] == "H-O-H-4"
    assert len(entries) == 1
    assert sum(line["amount"] for line in entries[0]["data"]["lines"]) == 0


async def test_receipt_confirmed_before_shipment_is_refused_and_nothing_is_released(data_dir: Path) -> None:
    """The "confirm now and I'll ship" scam: the buyer's confirmation of an unshipped order is refused
    ``not_shipped``; after the shipment the same confirmation releases the hold."""
    async with serving(build_escrow()) as (runtime, broker):
        await broker.publish(encode(payment_succeeded("O-H-5")), topics.events("payments"), key=b"O-H-5")
        await broker.publish(encode(confirm_receipt("O-H-5")), topics.commands("escrow"), key=b"O-H-5")
        rejected = await published(runtime, topics.events("escrow"), "escrow.command.rejected")
        assert (rejected[0]["data"]["reason"], rejected[0]["data"]["aggregate_id"]) == ("not_shipped", "O-H-5")
        assert not [m for m in runtime.sent if m["type"] == "escrow.hold.released"]
        async with runtime.db.transaction() as session:
            hold = await escrow_store.load_hold(Workspace(session), "O-H-5")
        assert hold is not None and hold.status.value == "held" and hold.remaining == 12900
        await broker.publish(encode(record_shipment("O-H-5")), topics.commands("escrow"), key=b"O-H-5")
        await broker.publish(encode(confirm_receipt("O-H-5")), topics.commands("escrow"), key=b"O-H-5")
        released = await published(runtime, topics.events("escrow"), "escrow.hold.released")
    assert released[0]["data"]["reason"] == "buyer_confirmed" and released[0]["data"]["amount"]["amount"] == 12900


def _merchant_event(type_: str, merchant: str, **data: Any) -> bytes:
    return encode(envelope(type_, {"merchant_id": merchant, **data}, actor=("system", "onboarding")))


async def test_only_an_active_merchant_may_create_orders(payments) -> None:  # type: ignore[no-untyped-def]
    """A merchant payments has not heard of may be one whose activation is still on its way: its order
    waits for it, and is refused when the parking time runs out; a suspended merchant is refused at once."""
    runtime, broker = payments
    await broker.publish(encode(create_order("O-H-5", merchant="M-NOT-ONBOARDED")), topics.commands("payments"), key=b"O-H-5")
    assert not await published(runtime, topics.events("payments"), "payments.command.rejected", timeout=0.3)
    runtime.clock.advance(61)
    await runtime.scheduler.fire_due()
    rejected = await published(runtime, topics.events("payments"), "payments.command.rejected")
    assert rejected[0]["data"]["reason"] == "merchant_not_active" and rejected[0]["data"]["aggregate_id"] == "O-H-5"
    assert not [m for m in runtime.sent if m["type"] == "payments.order.created"]

    await broker.publish(_merchant_event("onboarding.merchant.suspended", "M-1002", reason="complaints"),
                         topics.events("onboarding"), key=b"M-1002")
    runtime.sent.clear()
    await broker.publish(encode(create_order("O-H-6", merchant="M-1002")), topics.commands("payments"), key=b"O-H-6")
    rejected = await published(runtime, topics.events("payments"), "payments.command.rejected", timeout=1)
    assert rejected[0]["data"]["reason"] == "merchant_not_active" and rejected[0]["data"]["aggregate_id"] == "O-H-6"
    assert runtime.consumer.stats.parked == 1  # only the first one waited


async def test_an_order_sent_the_instant_its_merchant_was_activated_waits_for_the_activation(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    first, again = create_order("O-H-7", merchant="M-NEW-1"), create_order("O-H-7", merchant="M-NEW-1")
    first["idempotency_key"] = again["idempotency_key"] = "create-O-H-7"  # the storefront retried it
    for document in (first, again, create_order("O-H-8", merchant="M-NEW-2")):
        await broker.publish(encode(document), topics.commands("payments"), key=document["data"]["order_id"].encode())
    assert not await published(runtime, topics.events("payments"), "payments.order.created", timeout=0.3)
    assert await parked_messages(runtime.db) == 3
    await broker.publish(_merchant_event("onboarding.merchant.activated", "M-NEW-1", industry="food", verified=True),
                         topics.events("onboarding"), key=b"M-NEW-1")
    created = await published(runtime, topics.events("payments"), "payments.order.created")
    assert [c["data"]["order_id"] for c in created] == ["O-H-7", "O-H-7"]  # the repeat re-sends the first outcome
    assert created[0]["event_id"] == created[1]["event_id"] and created[0]["correlation_id"] == "flow-O-H-7"
    async with runtime.db.transaction() as session:
        assert (await load_order(Workspace(session), "O-H-7")) is not None
    assert await parked_messages(runtime.db) == 1  # M-NEW-2's order still waits
    await broker.publish(_merchant_event("onboarding.merchant.suspended", "M-NEW-2", reason="complaints"),
                         topics.events("onboarding"), key=b"M-NEW-2")
    rejected = await published(runtime, topics.events("payments"), "payments.command.rejected")
    assert rejected[0]["data"]["reason"] == "merchant_not_active" and rejected[0]["data"]["aggregate_id"] == "O-H-8"
    assert await parked_messages(runtime.db) == 0
    runtime.clock.advance(3600)  # their timers were cancelled: nothing more
    await runtime.scheduler.fire_due()
    assert len([m for m in runtime.sent if m["type"] in ("payments.order.created", "payments.command.rejected")]) == 3


def _charge_callback(order_id: str, intent_id: str, status: str, secret: str, reason: str | None = None,
                     amount: int = 12900) -> dict[str, Any]:
    callback = psp.ChargeCallback(intent_id=intent_id, order_id=order_id, status=status,
                                  amount={"amount": amount, "currency": "CNY"}, provider_txn_id=f"PSP-{intent_id}",
                                  failure_reason=reason, signature="").signed(secret)
    return envelope(callback.TYPE, callback.model_dump(mode="json"), actor=("system", "psp-simulator"),
                    correlation_id=f"flow-{order_id}")


async def test_a_success_for_a_cancelled_order_is_recorded_once_as_a_late_capture(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    secret = runtime.settings.psp_callback_secret
    await broker.publish(encode(create_order("O-H-6")), topics.commands("payments"), key=b"O-H-6")
    await broker.publish(encode(pay_order("O-H-6")), topics.commands("payments"), key=b"O-H-6")
    failed = _charge_callback("O-H-6", "PI-O-H-6-1", "failed", secret, "network_error")
    await broker.publish(encode(failed), topics.PSP_CALLBACKS, key=b"O-H-6")
    await broker.publish(encode(cancel_order("O-H-6", "changed_mind", actor=("buyer", "B-2001"))), topics.commands("payments"), key=b"O-H-6")
    assert await published(runtime, topics.events("payments"), "payments.order.cancelled")
    # the provider's success for that attempt arrives after all, twice (new event ids)
    for _ in range(2):
        succeeded = _charge_callback("O-H-6", "PI-O-H-6-1", "succeeded", secret)
        await broker.publish(encode(succeeded), topics.PSP_CALLBACKS, key=b"O-H-6")
    late = await published(runtime, topics.events("payments"), "payments.payment.captured_late")
    assert len(late) == 1
    data = late[0]["data"]
    assert (data["intent_id"], data["buyer_id"], data["amount"]["amount"], data["reason"]) == (
        "PI-O-H-6-1", "B-2001", 12900, "order_cancelled")
    assert "原路退回" in data["message"] and late[0]["correlation_id"] == "flow-O-H-6"
    assert not [m for m in runtime.sent if m["type"] == "payments.payment.succeeded"]
    async with runtime.db.transaction() as session:
        order = await load_order(Workspace(session), "O-H-6")
        recorded = (await session.exec(select(LateCaptureRow))).all()
    assert order is not None and order.status.value == "cancelled" and order.provider_txn_id is None
    assert [(r.intent_id, r.reason) for r in recorded] == [("PI-O-H-6-1", "order_cancelled")]


async def test_a_capture_of_the_wrong_amount_fails_the_attempt_goes_back_once_and_the_order_can_be_paid_again(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    secret = runtime.settings.psp_callback_secret
    await broker.publish(encode(create_order("O-H-8")), topics.commands("payments"), key=b"O-H-8")
    await broker.publish(encode(pay_order("O-H-8")), topics.commands("payments"), key=b"O-H-8")
    for _ in range(2):  # the provider captured 129.01 yuan for a 129.00 order, and says so twice
        wrong = _charge_callback("O-H-8", "PI-O-H-8-1", "succeeded", secret, amount=12901)
        await broker.publish(encode(wrong), topics.PSP_CALLBACKS, key=b"O-H-8")
    late = await published(runtime, topics.events("payments"), "payments.payment.captured_late")
    failed = await published(runtime, topics.events("payments"), "payments.payment.failed")
    assert [(m["data"]["reason"], m["data"]["amount"]["amount"]) for m in late] == [("amount_mismatch", 12901)]
    assert [m["data"]["reason"] for m in failed] == ["amount_mismatch"]
    assert not [m for m in runtime.sent if m["type"] in ("payments.payment.succeeded", "payments.command.rejected")]
    # The buyer pays again, and this time the provider takes the right amount.
    await broker.publish(encode(pay_order("O-H-8")), topics.commands("payments"), key=b"O-H-8")
    right = _charge_callback("O-H-8", "PI-O-H-8-2", "succeeded", secret)
    await broker.publish(encode(right), topics.PSP_CALLBACKS, key=b"O-H-8")
    paid = await published(runtime, topics.events("payments"), "payments.payment.succeeded")
    assert [m["data"]["intent_id"] for m in paid] == ["PI-O-H-8-2"]
    async with runtime.db.transaction() as session:
        order = await load_order(Workspace(session), "O-H-8")
        recorded = (await session.exec(select(LateCaptureRow))).all()
    assert order is not None and order.status.value == "paid" and order.provider_txn_id == "PSP-PI-O-H-8-2"
    assert [(r.intent_id, r.reason) for r in recorded] == [("PI-O-H-8-1", "amount_mismatch")]


async def test_escrow_books_a_late_capture_once_refunds_it_and_settles_the_buyer(data_dir: Path) -> None:
    late = payments_contracts.PaymentCapturedLate(
        order_id="O-H-7", intent_id="PI-O-H-7-1", merchant_id="M-1", buyer_id="B-1",
        amount={"amount": 12900, "currency": "CNY"}, provider_txn_id="PSP-1", reason="order_expired", message="…")
    async with serving(build_escrow()) as (runtime, broker):
        secret = runtime.settings.psp_callback_secret
        for _ in range(2):  # delivered twice with different event ids: booked and refunded once
            message = envelope(late.TYPE, late.model_dump(mode="json"), actor=("system", "payments"), correlation_id="flow-O-H-7")
            await broker.publish(encode(message), topics.events("payments"), key=b"O-H-7")
        booked = await published(runtime, topics.events("escrow"), "escrow.late_capture.booked")
        requests = await published(runtime, topics.PSP_REQUESTS, "psp.refund.requested")
        refund = psp.RefundCallback(refund_id=requests[0]["data"]["refund_id"], order_id="O-H-7",
                                    amount={"amount": 12900, "currency": "CNY"}, provider_txn_id="PSP-R1", signature="")
        forged = envelope(refund.TYPE, refund.signed("not-the-secret").model_dump(mode="json"), actor=("system", "psp-simulator"))
        await broker.publish(encode(forged), topics.PSP_CALLBACKS, key=b"O-H-7")
        for _ in range(2):
            answer = envelope(refund.TYPE, refund.signed(secret).model_dump(mode="json"), actor=("system", "psp-simulator"))
            await broker.publish(encode(answer), topics.PSP_CALLBACKS, key=b"O-H-7")
        paid_out = await published(runtime, topics.events("escrow"), "escrow.refund.paid_out")
        dead = await published(runtime, topics.dead_letters("escrow"), "deadletter.recorded")
        entries = await published(runtime, topics.events("escrow"), "escrow.ledger.entry_posted")
        async with runtime.db.transaction() as session:
            balances = await escrow_store.balances(session)
            capture = await escrow_store.load_late_capture(session, "RFL-PI-O-H-7-1")
    assert len(booked) == 1 and booked[0]["data"]["reason"] == "order_expired"
    assert [(r["data"]["refund_id"], r["data"]["amount"]["amount"], r["data"]["buyer_ref"]) for r in requests] == [
        ("RFL-PI-O-H-7-1", 12900, "B-1")]
    assert [e["data"]["kind"] for e in entries] == ["late_capture", "refund_paid_out"]
    assert {line["account"]: line["amount"] for line in entries[0]["data"]["lines"]} == {
        "psp_clearing": 12900, "buyer_refunds_payable:B-1": -12900}
    assert len(paid_out) == 1 and paid_out[0]["data"]["buyer_id"] == "B-1" and "退款已原路退回" in paid_out[0]["data"]["message"]
    assert [d["data"]["reason"] for d in dead] == ["bad_signature"]
    assert balances == {("psp_clearing", "CNY"): 0, ("buyer_refunds_payable:B-1", "CNY"): 0}
    assert capture is not None and capture.status.value == "refunded"
