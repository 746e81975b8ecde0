"""The money paths as the seeds describe them, through the real broker and service processes, with the test
clock moved forward to each announced deadline: receipt only after shipment; a counter-offer the buyer never
answers; an arbitration nobody rules (the supervisors' queue, then the default ruling); refunds on return
(the merchant confirms, or its deadline passes); and orders paid without the guarantee, cancelled before
shipment, disputed, or cancelled when the merchant's balance cannot refund them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest

from ops import audit
from ops.platform import LocalPlatform
from shared import topics
from tests.factories import (
    advance_clock,
    cancel_order,
    confirm_receipt,
    create_order,
    envelope,
    pay_order,
    record_shipment,
    request_payout,
)
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration
EVIDENCE = [{"reference": "evidence/photo.jpg", "sha256": "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
             "description": "照片 / photo"}]


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


def _one(messages: list[dict[str, Any]], type_: str, **data: object) -> dict[str, Any]:
    return next(m for m in messages if of(type_, **data)(m))


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def _wait(kafka: Kafka, service: str, type_: str, timeout: float = 45.0, **data: object) -> dict[str, Any]:
    messages = await kafka.read_until(topics.events(service), _has(type_, **data), timeout=timeout)
    return _one(messages, type_, **data)


async def _advance_past(kafka: Kafka, deadline: str, since: str) -> None:
    """Move every service's test clock past ``deadline`` (announced by an event that occurred at ``since``)."""
    tag = f"clock-{uuid.uuid4().hex[:8]}"
    seconds = int((_at(deadline) - _at(since)).total_seconds()) + 120
    await kafka.send(topics.CONTROL_COMMANDS, advance_clock(seconds, tag), key="clock")
    await kafka.read_until(topics.CONTROL_EVENTS, lambda ms: {
        m["data"]["service"] for m in ms if m["correlation_id"] == tag} >= set(topics.SERVICES))


async def _paid(kafka: Kafka, order_id: str, *, guaranteed: bool = True, merchant: str = "M-1001", buyer: str = "B-2001",
                shipped: bool = True) -> None:
    await kafka.send("danbao.payments.commands", create_order(order_id, merchant=merchant, buyer=buyer,
                                                              guaranteed=guaranteed), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)
    await _wait(kafka, "escrow", "escrow.hold.created" if guaranteed else "escrow.merchant.credited", order_id=order_id)
    if shipped:
        await kafka.send("danbao.escrow.commands", record_shipment(order_id, merchant=merchant), key=order_id)
        await _wait(kafka, "escrow", "escrow.shipment.recorded" if guaranteed else "escrow.direct_order.shipped",
                    order_id=order_id)


def _case(type_: str, data: dict[str, Any], actor: tuple[str, str], order_id: str) -> dict[str, Any]:
    return envelope(type_, data, actor=actor, correlation_id=f"flow-{order_id}")


async def _open(kafka: Kafka, case_id: str, order_id: str, reason: str, requested: int, *, evidence: bool = True,
                buyer: str = "B-2001") -> None:
    await kafka.send("danbao.disputes.commands", _case("disputes.case.open", {
        "case_id": case_id, "order_id": order_id, "reason": reason, "requested": {"amount": requested, "currency": "CNY"},
        "description": "有问题 / something is wrong", "evidence": EVIDENCE if evidence else []}, ("buyer", buyer), order_id),
        key=order_id)
    await _wait(kafka, "disputes", "disputes.case.opened", case_id=case_id)


async def _act(kafka: Kafka, type_: str, case_id: str, order_id: str, actor: tuple[str, str], **data: Any) -> None:
    await kafka.send("danbao.disputes.commands", _case(type_, {"case_id": case_id, **data}, actor, order_id), key=order_id)


async def test_receipt_of_an_unshipped_order_is_refused_not_shipped(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await _paid(kafka, order_id, shipped=False)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id), key=order_id)
    rejected = await _wait(kafka, "escrow", "escrow.command.rejected", aggregate_id=order_id)
    assert (rejected["data"]["reason"], rejected["data"]["command_type"]) == ("not_shipped", "escrow.receipt.confirm")
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id), key=order_id)
    events = await kafka.read_until(topics.events("escrow"), _has("escrow.ledger.entry_posted", order_id=order_id,
                                                                  kind="hold_released"))
    mine = [m["type"] for m in events if m["data"].get("order_id", m["data"].get("aggregate_id")) == order_id]
    assert mine == ["escrow.hold.created", "escrow.ledger.entry_posted", "escrow.command.rejected", "escrow.shipment.recorded",
                    "escrow.hold.released", "escrow.ledger.entry_posted"]  # nothing moved before the shipment


async def test_a_counter_offer_the_buyer_never_answers_is_accepted_at_its_deadline(kafka: Kafka) -> None:
    order_id, case_id = f"O-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    await _paid(kafka, order_id)
    await _open(kafka, case_id, order_id, "price_difference", 3800)
    await _act(kafka, "disputes.case.respond", case_id, order_id, ("merchant", "M-1001"), response="counter_offer",
               amount={"amount": 2000, "currency": "CNY"})
    responded = await _wait(kafka, "disputes", "disputes.case.merchant_responded", case_id=case_id)
    assert responded["data"]["answer_by"]
    await _advance_past(kafka, responded["data"]["answer_by"], responded["occurred_at"])
    agreed = await _wait(kafka, "disputes", "disputes.negotiation.agreed", case_id=case_id)
    assert (agreed["data"]["how"], agreed["data"]["amount"]["amount"]) == ("buyer_silent", 2000)
    executed = await _wait(kafka, "escrow", "escrow.case_refund.executed", case_id=case_id)
    assert (executed["data"]["from_hold"], executed["data"]["shortfall"]) == (2000, 0)


async def test_an_arbitration_nobody_rules_goes_to_the_supervisors_then_the_default_ruling_refunds(kafka: Kafka) -> None:
    order_id, case_id = f"O-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    await _paid(kafka, order_id)
    await _open(kafka, case_id, order_id, "not_received", 12900, evidence=False)
    await _act(kafka, "disputes.case.respond", case_id, order_id, ("merchant", "M-1001"), response="reject")
    await _wait(kafka, "disputes", "disputes.negotiation.failed", case_id=case_id)
    await _act(kafka, "disputes.case.escalate", case_id, order_id, ("buyer", "B-2001"))
    escalated = await _wait(kafka, "disputes", "disputes.case.escalated", case_id=case_id)
    assert escalated["data"]["proposal"]["rule"] == "R1-not-delivered"
    await _advance_past(kafka, escalated["data"]["rule_by"], escalated["occurred_at"])
    overdue = await _wait(kafka, "disputes", "disputes.case.arbitration_overdue", case_id=case_id)
    assert overdue["data"]["rule_by"] == escalated["data"]["rule_by"]
    assert (overdue["data"]["default_ruling"]["rule"], overdue["data"]["default_ruling"]["amount"]["amount"]) == (
        "R1-not-delivered", 12900)
    disputes_events = await kafka.read_until(topics.events("disputes"), _has("disputes.case.arbitration_overdue", case_id=case_id))
    assert not _has("disputes.case.ruled", case_id=case_id)(disputes_events)  # in the supervisors' queue, not ruled yet
    await _advance_past(kafka, overdue["data"]["default_ruling_at"], overdue["occurred_at"])
    ruled = await _wait(kafka, "disputes", "disputes.case.ruled", case_id=case_id)
    assert (ruled["data"]["by_default"], ruled["data"]["arbitrator_id"], ruled["data"]["followed_rule"]) == (
        True, "system", "R1-not-delivered")
    assert ruled["actor"] == {"kind": "system", "id": "disputes"} and ruled["correlation_id"] == f"flow-{order_id}"
    executed = await _wait(kafka, "escrow", "escrow.case_refund.executed", case_id=case_id)
    assert executed["data"]["from_hold"] == 12900


async def _ruled_on_return(kafka: Kafka) -> tuple[str, str, dict[str, Any]]:
    order_id, case_id = f"O-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    await _paid(kafka, order_id)
    await _open(kafka, case_id, order_id, "not_as_described", 12900)
    await _act(kafka, "disputes.case.respond", case_id, order_id, ("merchant", "M-1001"), response="reject",
               note="请先退货 / return the goods first")
    await _wait(kafka, "disputes", "disputes.negotiation.failed", case_id=case_id)
    await _act(kafka, "disputes.case.escalate", case_id, order_id, ("buyer", "B-2001"))
    await _wait(kafka, "disputes", "disputes.case.escalated", case_id=case_id)
    await _act(kafka, "disputes.case.rule", case_id, order_id, ("arbitrator", "ARB-1"), decision="full_refund",
               reasons="货不对板，退货后全额退款 / not as described: full refund on return", return_required=True)
    requested = await _wait(kafka, "disputes", "disputes.return.requested", case_id=case_id)
    assert requested["data"]["amount"]["amount"] == 12900
    await _act(kafka, "disputes.return.record_shipment", case_id, order_id, ("buyer", "B-2001"), carrier="SF Express 顺丰",
               tracking_no="SF2026120100017")
    shipped = await _wait(kafka, "disputes", "disputes.return.shipped", case_id=case_id)
    disputes_events = await kafka.read_until(topics.events("disputes"), _has("disputes.return.shipped", case_id=case_id))
    assert not _has("disputes.refund.ordered", case_id=case_id)(disputes_events)  # not before the goods are back
    escrow_events = await kafka.read_until(topics.events("escrow"), _has("escrow.hold.frozen", order_id=order_id))
    assert not _has("escrow.hold.unfrozen", order_id=order_id)(escrow_events)  # the hold stays frozen meanwhile
    assert not _has("escrow.case_refund.executed", order_id=order_id)(escrow_events)
    return order_id, case_id, shipped


async def test_a_refund_on_return_is_made_when_the_merchant_confirms_the_goods_came_back(kafka: Kafka) -> None:
    order_id, case_id, _ = await _ruled_on_return(kafka)
    await _act(kafka, "disputes.return.confirm_receipt", case_id, order_id, ("merchant", "M-1001"), note="已收到退货")
    received = await _wait(kafka, "disputes", "disputes.return.received", case_id=case_id)
    assert received["data"]["how"] == "merchant_confirmed"
    ordered = await _wait(kafka, "disputes", "disputes.refund.ordered", case_id=case_id)
    assert (ordered["data"]["amount"]["amount"], ordered["data"]["basis"]) == (12900, "ruled")
    executed = await _wait(kafka, "escrow", "escrow.case_refund.executed", case_id=case_id)
    assert executed["data"]["from_hold"] == 12900
    await _wait(kafka, "escrow", "escrow.refund.paid_out", refund_id=executed["data"]["provider_refund_id"])


async def test_a_refund_on_return_is_made_when_the_merchants_deadline_to_confirm_passes(kafka: Kafka) -> None:
    order_id, case_id, shipped = await _ruled_on_return(kafka)
    await _advance_past(kafka, shipped["data"]["confirm_by"], shipped["occurred_at"])
    received = await _wait(kafka, "disputes", "disputes.return.received", case_id=case_id)
    assert received["data"]["how"] == "deadline_passed" and received["actor"] == {"kind": "system", "id": "disputes"}
    executed = await _wait(kafka, "escrow", "escrow.case_refund.executed", case_id=case_id)
    assert (executed["data"]["from_hold"], executed["data"]["shortfall"]) == (12900, 0)


async def test_an_order_without_the_guarantee_is_cancelled_before_shipment_and_not_after(kafka: Kafka) -> None:
    unshipped, shipped = f"O-{uuid.uuid4().hex[:8]}", f"O-{uuid.uuid4().hex[:8]}"
    await _paid(kafka, unshipped, guaranteed=False, shipped=False)
    await _paid(kafka, shipped, guaranteed=False)
    await kafka.send("danbao.payments.commands", cancel_order(unshipped, "changed_mind", actor=("buyer", "B-2001")), key=unshipped)
    await kafka.send("danbao.payments.commands", cancel_order(shipped, "changed_mind", actor=("buyer", "B-2001")), key=shipped)
    cancelled = await _wait(kafka, "payments", "payments.order.cancelled", order_id=unshipped)
    assert (cancelled["data"]["party"], cancelled["data"]["refunded"]["amount"]) == ("buyer", 12900)
    refused = await _wait(kafka, "payments", "payments.order.cancellation_refused", order_id=shipped)
    assert refused["data"]["reason"] == "already_shipped"
    ledger = await kafka.read_until(topics.events("escrow"), _has("escrow.ledger.entry_posted", order_id=unshipped,
                                                                  kind="refund_paid_out"))
    refunded = _one(ledger, "escrow.direct_payment.refunded", order_id=unshipped)
    assert (refunded["data"]["from_merchant"], refunded["data"]["fee_returned"]) == (12823, 77)
    entries = {m["data"]["kind"]: {line["account"]: line["amount"] for line in m["data"]["lines"]}
               for m in ledger if of("escrow.ledger.entry_posted", order_id=unshipped)(m)}
    assert entries["direct_payment"] == {"psp_clearing": 12900, "merchant_available:M-1001": -12823, "platform_fees": -77}
    assert entries["direct_refund"] == {"merchant_available:M-1001": 12823, "platform_fees": 77,
                                        "buyer_refunds_payable:B-2001": -12900}
    assert entries["refund_paid_out"] == {"buyer_refunds_payable:B-2001": 12900, "psp_clearing": -12900}
    assert not _has("escrow.direct_payment.refunded", order_id=shipped)(ledger)


async def test_a_refund_case_on_an_order_without_the_guarantee_is_paid_from_the_merchants_balance(kafka: Kafka) -> None:
    order_id, case_id = f"O-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    await _paid(kafka, order_id, guaranteed=False, merchant="M-1002")
    await _open(kafka, case_id, order_id, "damaged", 5000)
    await _act(kafka, "disputes.case.respond", case_id, order_id, ("merchant", "M-1002"), response="accept")
    executed = await _wait(kafka, "escrow", "escrow.case_refund.executed", case_id=case_id)
    assert (executed["data"]["from_hold"], executed["data"]["from_merchant"], executed["data"]["shortfall"]) == (0, 5000, 0)
    ledger = await kafka.read_until(topics.events("escrow"), _has("escrow.refund.paid_out", order_id=order_id))
    refund = next(m for m in ledger if of("escrow.ledger.entry_posted", order_id=order_id, kind="case_refund")(m))
    assert {line["account"]: line["amount"] for line in refund["data"]["lines"]} == {
        "merchant_available:M-1002": 5000, "buyer_refunds_payable:B-2001": -5000}


async def test_a_cancellation_the_merchants_balance_cannot_refund_becomes_a_case_paid_by_priority_compensation(
        kafka: Kafka) -> None:
    order_id, payout_id, buyer = f"O-{uuid.uuid4().hex[:8]}", f"PO-{uuid.uuid4().hex[:8]}", "B-SHORT-1"
    await _paid(kafka, order_id, guaranteed=False, merchant="M-1003", buyer=buyer, shipped=False)
    credited = await _wait(kafka, "escrow", "escrow.merchant.credited", order_id=order_id)
    await kafka.send("danbao.payments.commands", request_payout(payout_id, credited["data"]["net"], merchant="M-1003"),
                     key="M-1003")
    reserved = await _wait(kafka, "escrow", "escrow.payout.reserved", payout_id=payout_id)
    assert reserved["data"]["available_after"] == 0  # the merchant withdrew it all
    await kafka.send("danbao.payments.commands", cancel_order(order_id, "out_of_stock", actor=("merchant", "M-1003")),
                     key=order_id)
    refused = await _wait(kafka, "payments", "payments.order.cancellation_refused", order_id=order_id)
    assert refused["data"]["reason"] == "merchant_balance_short"
    opened = await _wait(kafka, "disputes", "disputes.case.opened", order_id=order_id)
    assert (opened["data"]["case_id"], opened["data"]["origin"]) == (f"CX-{order_id}", "cancellation")
    agreed = await _wait(kafka, "disputes", "disputes.negotiation.agreed", order_id=order_id)
    assert (agreed["data"]["how"], agreed["data"]["amount"]["amount"]) == ("cancelled_before_shipment", 12900)
    executed = await _wait(kafka, "escrow", "escrow.case_refund.executed", order_id=order_id)
    assert (executed["data"]["from_merchant"], executed["data"]["shortfall"]) == (0, 12900)
    paid = await _wait(kafka, "escrow", "escrow.compensation.paid", order_id=order_id)
    assert (paid["data"]["amount"]["amount"], paid["data"]["merchant_owes"], paid["data"]["buyer_id"]) == (12900, 12900, buyer)
    await _wait(kafka, "escrow", "escrow.refund.paid_out", refund_id=paid["data"]["provider_refund_id"])


async def test_after_all_of_the_above_the_audit_finds_no_breach(platform: LocalPlatform) -> None:
    """Nothing released before a shipment, every open case waiting for a deadline it was told of, every direct
    cancellation refund with its cause: the whole stream of the cases above passes ``danbao audit``."""
    assert platform.broker is not None
    report = await audit.audit(platform.broker.bootstrap)
    for _ in range(10):  # a refund or a claim may still be on its way: the audit is for a quiet platform
        if report.ok:
            break
        await asyncio.sleep(3)
        report = await audit.audit(platform.broker.bootstrap)
    assert report.ok, {name: result.breaches[:5] for name, result in report.checks.items() if result.breaches}
    assert report.checks["releases"].checked >= 1 and report.checks["deadlines"].checked >= 10
    assert report.counts["cases"] >= 6 and report.orders_by_state.get("cancelled", 0) >= 1
