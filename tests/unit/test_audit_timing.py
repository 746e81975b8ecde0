"""The audit's timing checks (``ops/audit/timing.py``) and its view of orders paid without the guarantee,
over streams the services' own domain functions produce: nothing released before shipment; every open case
waits for a deadline it was told of, and none has passed unnoticed; a cancellation refunded from a direct
payment has its cause, and its provider refund is owed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from ops import audit
from services.disputes import domain as cases
from services.escrow import direct
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import payments as p
from shared.envelope import Actor, ActorKind
from shared.money import Money
from tests.audit_platform import NOW, Platform, platform
from tests.unit.test_audit import failing

MERCHANT = Actor(kind=ActorKind.MERCHANT, id="M-1001")


def cancel_direct(w: Platform, order_id: str) -> None:
    """A direct payment cancelled by its buyer before shipment: the merchant's balance and the fee give it back."""
    o, reason = w.orders[order_id], p.CancelReason.CHANGED_MIND
    w.emit("payments", p.RefundRequested(order_id=order_id, buyer_id=o.buyer_id, amount=o.amount, party="buyer", reason=reason))
    paid = direct.DirectPayment(order_id=order_id, merchant_id=o.merchant_id, buyer_id=o.buyer_id, amount=o.amount.amount,
                                currency="CNY", fee=77, auto_confirm_days=7)
    decision = direct.refund_for_cancellation(paid, o.amount.amount, "cancelled_by_buyer", w.available(o.merchant_id))
    assert isinstance(decision, direct.DirectDecision)
    w.emit("escrow", *decision.events)
    w.post(decision.entry)
    w.emit("payments", p.OrderCancelled(order_id=order_id, merchant_id=o.merchant_id, buyer_id=o.buyer_id, party="buyer",
                                        reason=reason, refunded=o.amount))
    w.paid_out(direct.refund_provider_id(order_id), order_id, o.amount)


def countered(w: Platform, case_id: str, order_id: str) -> None:
    """A case waiting for the buyer's answer to a counter-offer."""
    w.order(order_id, buyer="B-2009")
    w.pay(order_id)
    w.ship(order_id)
    w.open_case(case_id, order_id, 5000)
    offer = d.RespondToCase(case_id=case_id, response=d.MerchantResponse.COUNTER_OFFER, amount=Money(amount=2000))
    w.case(cases.respond(w.cases[case_id], offer, MERCHANT, NOW, cases.Policy()))


def timed() -> Platform:
    w = platform()
    w.order("O-DIRECT-CANCEL", guaranteed=False, buyer="B-2008")
    w.pay("O-DIRECT-CANCEL")
    cancel_direct(w, "O-DIRECT-CANCEL")
    countered(w, "C-COUNTER", "O-COUNTER")
    return w


VALID = timed().messages


def test_a_valid_stream_with_a_direct_cancellation_and_a_counter_offer_passes() -> None:
    report = audit.check(VALID)
    assert report.ok, {k: v.breaches for k, v in report.checks.items() if v.breaches}
    assert report.checks["releases"].checked == 4 and report.checks["deadlines"].checked > 2
    assert report.orders_by_state["cancelled"] == 2 and report.orders_by_state["in_case"] == 2
    assert report.counts["refunds_cancellation"] == 2


def _late(w: Platform, cls: type, hours: int, **match: Any) -> None:
    """Stamp the event as occurring ``hours`` after the others."""
    w.find(cls, **match)["occurred_at"] = (NOW + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


MUTATIONS: dict[str, tuple[Callable[[Platform], object], set[str], str]] = {
    # name: (mutation, every check that fails, a breach it reports)
    "released without a shipment": (
        lambda w: w.drop(e.ShipmentRecorded, order_id="O-HAPPY"), {"releases"},
        "O-HAPPY: released to the merchant (buyer_confirmed) before any shipment was recorded"),
    "released before the shipment occurred": (
        lambda w: _late(w, e.ShipmentRecorded, 2, order_id="O-HAPPY"), {"releases"}, "before any shipment was recorded"),
    "released for no known reason": (
        lambda w: w.find(e.HoldReleased, order_id="O-HAPPY")["data"].update(reason="merchant_asked"), {"releases"},
        "O-HAPPY: released to the merchant for an unknown reason merchant_asked"),
    "auto-confirmed before its time": (
        lambda w: w.find(e.HoldReleased, order_id="O-HAPPY")["data"].update(reason="auto_confirmed"), {"releases"},
        "O-HAPPY: auto-confirmed at 2026-11-23T08:30:00+00:00, before its auto-confirm time 2026-11-30T08:30:00+00:00"),
    "a counter-offer without the buyer's deadline": (
        lambda w: w.find(d.MerchantResponded, case_id="C-COUNTER")["data"].update(answer_by=None), {"deadlines"},
        "C-COUNTER: open, waiting since disputes.case.merchant_responded, which announced no deadline"),
    "a deadline announced in the past": (
        lambda w: w.find(d.VerificationStarted, case_id="C-VERIFY")["data"].update(day3_at="2026-11-22T08:30:00Z"),
        {"deadlines"}, "C-VERIFY: disputes.verification.started announced day3_at 2026-11-22T08:30:00+00:00, before it occurred"),
    "a deadline that passed long ago with the case still waiting": (
        lambda w: _late(w, p.OrderCreated, 24 * 5, order_id="O-UNPAID"),
        {"deadlines"}, "C-VERIFY: still waiting after its deadline 2026-11-26T08:30:00+00:00 (disputes.verification.started) "
                       "passed; the platform has moved on to 2026-11-28T08:30:00+00:00"),
    "a direct cancellation refund nobody asked for": (
        lambda w: w.drop(p.RefundRequested, order_id="O-DIRECT-CANCEL"), {"refunds"},
        "O-DIRECT-CANCEL: 12900 refunded cancelled_by_buyer without the guarantee, but that party never cancelled it"),
    "a direct cancellation refund after shipment": (
        lambda w: w.emit("escrow", e.DirectOrderShipped(order_id="O-DIRECT-CANCEL", merchant_id="M-1001", buyer_id="B-2008",
                                                        carrier="SF", tracking_no="SF1", deemed_received_at=NOW)),
        {"orders"}, "O-DIRECT-CANCEL: refunded for a cancellation after shipment"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_timing_breach_is_reported_by_its_check(name: str) -> None:
    change, checks, breach = MUTATIONS[name]
    w = timed()
    change(w)
    report = audit.check(w.messages)
    assert failing(report) == checks, {k: v.breaches for k, v in report.checks.items() if v.breaches}
    assert any(breach in b for name_ in checks for b in report.checks[name_].breaches), report.checks
