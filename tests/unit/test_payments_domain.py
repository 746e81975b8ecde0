from __future__ import annotations

from dataclasses import replace

import pytest

from datetime import datetime, timedelta, timezone

from services.payments import domain
from services.payments.domain import OrderStatus
from shared.contracts import payments, psp
from shared.envelope import Actor
from shared.unit_of_work import Rejected, Waiting
from tests.factories import create_order, pay_order

MERCHANT = Actor(kind="merchant", id="M-1001")
BUYER = Actor(kind="buyer", id="B-2001")
SECRET = "s3cret"
NOW = datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)
WAIT = timedelta(minutes=15)


def _order() -> domain.Order:
    command = payments.COMMANDS.parse(create_order("O-1")).data
    decision = domain.create_order(None, command, MERCHANT, "active")
    assert decision.order is not None
    return decision.order


def _pay(order: domain.Order) -> domain.Order:
    command = payments.COMMANDS.parse(pay_order("O-1")).data
    decision = domain.pay(order, command, BUYER, NOW, WAIT)
    assert decision.order is not None
    return decision.order


def _callback(order: domain.Order, status: str = "succeeded", reason: str | None = None, amount: int | None = None) -> psp.ChargeCallback:
    return psp.ChargeCallback(
        intent_id=order.intent_id or "", order_id=order.order_id, status=status,
        amount={"amount": amount or order.amount.amount, "currency": "CNY"},
        provider_txn_id="PSP-1", failure_reason=reason, signature="",
    ).signed(SECRET)


def test_only_the_orders_merchant_creates_it_and_a_repeat_is_harmless() -> None:
    command = payments.COMMANDS.parse(create_order("O-1")).data
    with pytest.raises(Rejected) as caught:
        domain.create_order(None, command, Actor(kind="merchant", id="M-OTHER"), "active")
    with pytest.raises(Rejected, match="merchant_not_active"):
        domain.create_order(None, command, MERCHANT, "suspended")
    with pytest.raises(Waiting) as waiting:  # a merchant payments has not heard of: its activation may be on its way
        domain.create_order(None, command, MERCHANT, None)
    assert waiting.value.waits_for == "merchant:M-1001" and waiting.value.rejection.reason == "merchant_not_active"
    assert caught.value.reason == "forbidden"
    order = _order()
    assert domain.create_order(order, command, MERCHANT, "active").events == []
    different = payments.COMMANDS.parse(create_order("O-1", unit_price=1)).data
    with pytest.raises(Rejected, match="order_exists"):
        domain.create_order(order, different, MERCHANT, "active")


def test_paying_by_qr_code_creates_an_intent_and_a_charge_request() -> None:
    order = _order()
    decision = domain.pay(order, payments.COMMANDS.parse(pay_order("O-1")).data, BUYER, NOW, WAIT)
    intent, charge = decision.events
    assert isinstance(intent, payments.PaymentIntentCreated)
    assert intent.qr_payload is None and intent.pay_url is None and intent.app_token is None  # codes are the merchant's
    assert intent.expires_at == NOW + timedelta(minutes=15)
    assert isinstance(charge, psp.ChargeRequested) and charge.amount == order.amount
    assert decision.order is not None and decision.order.status is OrderStatus.PAYMENT_PENDING


def test_only_the_buyer_pays_and_never_twice_at_once() -> None:
    order = _order()
    with pytest.raises(Rejected, match="forbidden"):
        domain.pay(order, payments.COMMANDS.parse(pay_order("O-1")).data, Actor(kind="buyer", id="B-X"), NOW, WAIT)
    pending = _pay(order)
    with pytest.raises(Rejected, match="payment_in_progress"):
        _pay(pending)


def test_success_computes_the_fee_and_a_duplicate_callback_changes_nothing() -> None:
    pending = _pay(_order())
    decision = domain.settle_charge(pending, _callback(pending), fee_rate_bp=60, now=NOW)
    (succeeded,) = decision.events
    assert isinstance(succeeded, payments.PaymentSucceeded) and succeeded.fee == 77
    assert decision.order is not None and decision.order.status is OrderStatus.PAID
    assert domain.settle_charge(decision.order, _callback(pending), fee_rate_bp=60, now=NOW).events == []
    with pytest.raises(Rejected, match="already_paid"):
        _pay(decision.order)


def test_a_failed_payment_tells_the_buyer_why_and_may_be_paid_again() -> None:
    pending = _pay(_order())
    decision = domain.settle_charge(pending, _callback(pending, "failed", "insufficient_balance"), fee_rate_bp=60, now=NOW)
    (failed,) = decision.events
    assert isinstance(failed, payments.PaymentFailed) and "余额不足" in failed.message
    assert decision.order is not None
    again = _pay(decision.order)
    assert again.intent_id == "PI-O-1-2" and again.attempts == 2
    stale = domain.settle_charge(again, _callback(pending, "failed", "insufficient_balance"), fee_rate_bp=60, now=NOW)
    assert stale.events == []  # attempt 1's answer again (a success for it would be given back: see below)


def test_a_capture_for_a_different_amount_does_not_pay_the_order_and_goes_back_to_the_buyer_once() -> None:
    pending = _pay(_order())
    decision = domain.settle_charge(pending, _callback(pending, amount=1), fee_rate_bp=60, now=NOW)
    assert decision.order is not None and decision.order.status is OrderStatus.AWAITING_PAYMENT  # may be paid again
    assert decision.order.provider_txn_id is None and decision.order.paid_at is None
    late, failed = decision.events
    assert isinstance(late, payments.PaymentCapturedLate)
    assert (late.reason, late.amount.amount, late.intent_id) == ("amount_mismatch", 1, pending.intent_id)  # the captured amount
    assert isinstance(failed, payments.PaymentFailed) and failed.reason == "amount_mismatch"
    assert "全额原路退回" in late.message and "refunded in full" in late.message
    # The provider repeats its answer: the capture is already recorded, nothing more happens.
    again = domain.settle_charge(decision.order, _callback(pending, amount=1), fee_rate_bp=60, now=NOW, late_capture_recorded=True)
    assert again.events == [] and again.order == decision.order
    # A wrong amount arriving after the wait ran out (the buyer was already told) is given back all the same.
    timed_out = domain.provider_timeout(pending, pending.intent_id or "").order
    assert timed_out is not None
    (late_again,) = domain.settle_charge(timed_out, _callback(pending, amount=1), fee_rate_bp=60, now=NOW).events
    assert isinstance(late_again, payments.PaymentCapturedLate) and late_again.reason == "amount_mismatch"


def test_callback_signatures_detect_tampering() -> None:
    pending = _pay(_order())
    callback = _callback(pending)
    assert callback.signature_valid(SECRET)
    assert not callback.model_copy(update={"provider_txn_id": "PSP-forged"}).signature_valid(SECRET)
    assert not callback.signature_valid("another-secret")


def _cancel(order: domain.Order, reason: str, actor: Actor) -> domain.Decision:
    return domain.cancel(order, payments.CancelOrder(order_id=order.order_id, reason=reason), actor)


def _paid() -> domain.Order:
    pending = _pay(_order())
    decision = domain.settle_charge(pending, _callback(pending), fee_rate_bp=60, now=NOW)
    assert decision.order is not None
    return decision.order


def test_cancelling_an_unpaid_order_closes_it_without_a_refund() -> None:
    decision = _cancel(_order(), "changed_mind", BUYER)
    (cancelled,) = decision.events
    assert isinstance(cancelled, payments.OrderCancelled) and cancelled.refunded.amount == 0 and cancelled.party == "buyer"
    assert decision.order is not None and decision.order.status is OrderStatus.CANCELLED
    with pytest.raises(Rejected, match="order_closed"):
        _cancel(decision.order, "out_of_stock", MERCHANT)
    with pytest.raises(Rejected, match="order_closed"):
        _pay(decision.order)


def test_each_party_cancels_with_its_own_reasons_only() -> None:
    with pytest.raises(Rejected, match="invalid_reason"):
        _cancel(_order(), "changed_mind", MERCHANT)
    with pytest.raises(Rejected, match="invalid_reason"):
        _cancel(_order(), "out_of_stock", BUYER)
    with pytest.raises(Rejected, match="forbidden"):
        _cancel(_order(), "changed_mind", Actor(kind="buyer", id="B-X"))


def test_cancelling_a_paid_order_asks_escrow_for_the_full_refund_and_waits() -> None:
    decision = _cancel(_paid(), "out_of_stock", MERCHANT)
    (request,) = decision.events
    assert isinstance(request, payments.RefundRequested) and request.amount.amount == 12900 and request.party == "merchant"
    assert decision.order is not None and decision.order.status is OrderStatus.REFUND_PENDING
    with pytest.raises(Rejected, match="cancellation_in_progress"):
        _cancel(decision.order, "changed_mind", BUYER)
    # a dispute case's partial refund from the same hold is not the cancellation's refund
    assert domain.refund_settled(decision.order, 3800, "case_refund") == domain.Decision(decision.order, [])
    done = domain.refund_settled(decision.order, 12900, "cancelled_by_merchant")
    assert done.order is not None and done.order.status is OrderStatus.CANCELLED
    assert done.events[0].refunded.amount == 12900  # type: ignore[attr-defined]
    refused = domain.refund_refused(decision.order, "already_shipped")
    assert refused.order is not None and refused.order.status is OrderStatus.PAID


def test_a_paid_order_without_the_guarantee_is_cancelled_like_a_guaranteed_one() -> None:
    """It used to be refused ``not_cancellable``: now escrow is asked for the full refund, which it takes back from
    the merchant's balance; refused for want of balance, the order stays paid (the cancellation becomes a case)."""
    direct = replace(_paid(), guaranteed=False)
    decision = _cancel(direct, "changed_mind", BUYER)
    (request,) = decision.events
    assert isinstance(request, payments.RefundRequested) and (request.amount.amount, request.party) == (12900, "buyer")
    assert decision.order is not None and decision.order.status is OrderStatus.REFUND_PENDING
    done = domain.refund_settled(decision.order, 12900, "cancelled_by_buyer")
    assert done.order is not None and done.order.status is OrderStatus.CANCELLED
    short = domain.refund_refused(decision.order, "merchant_balance_short")
    assert short.order is not None and short.order.status is OrderStatus.PAID
    assert short.events == [payments.CancellationRefused(order_id="O-1", reason="merchant_balance_short")]


def test_only_an_unpaid_order_expires() -> None:
    expired = domain.expire(_order())
    assert expired.order is not None and expired.order.status is OrderStatus.EXPIRED
    assert isinstance(expired.events[0], payments.OrderExpired)
    assert domain.expire(_paid()).events == []
    assert domain.expire(_pay(_order())).events == []



def test_a_provider_that_never_answers_times_out_and_a_late_success_still_pays() -> None:
    pending = _pay(_order())
    assert domain.provider_timeout(pending, "PI-O-1-0").events == []  # another attempt's timer
    decision = domain.provider_timeout(pending, "PI-O-1-1")
    (failed,) = decision.events
    assert isinstance(failed, payments.PaymentFailed) and failed.reason == "provider_timeout"
    assert decision.order is not None and decision.order.status is OrderStatus.AWAITING_PAYMENT
    late = domain.settle_charge(decision.order, _callback(pending), fee_rate_bp=60, now=NOW)
    assert late.order is not None and late.order.status is OrderStatus.PAID
    assert domain.settle_charge(decision.order, _callback(pending, "failed", "network_error"), fee_rate_bp=60, now=NOW).events == []
    closed = domain.expire(decision.order).order
    assert closed is not None
    (captured_late,) = domain.settle_charge(closed, _callback(pending), fee_rate_bp=60, now=NOW).events
    assert isinstance(captured_late, payments.PaymentCapturedLate) and captured_late.reason == "order_expired"


def _timed_out(order: domain.Order) -> domain.Order:
    """The provider did not answer ``order``'s pending attempt in time."""
    assert order.intent_id is not None
    waiting = domain.provider_timeout(order, order.intent_id).order
    assert waiting is not None and waiting.status is OrderStatus.AWAITING_PAYMENT
    return waiting


def test_a_success_for_an_expired_order_is_a_late_capture_for_the_buyer_recorded_once() -> None:
    pending = _pay(_order())
    expired = domain.expire(_timed_out(pending)).order
    assert expired is not None and expired.status is OrderStatus.EXPIRED
    decision = domain.settle_charge(expired, _callback(pending), fee_rate_bp=60, now=NOW)
    (late,) = decision.events
    assert isinstance(late, payments.PaymentCapturedLate)
    assert (late.order_id, late.intent_id, late.buyer_id, late.amount.amount, late.provider_txn_id, late.reason) == (
        "O-1", "PI-O-1-1", "B-2001", 12900, "PSP-1", "order_expired")
    assert "全额原路退回" in late.message and "refunded in full" in late.message
    assert decision.order == expired  # the order stays closed, unpaid
    again = domain.settle_charge(expired, _callback(pending), fee_rate_bp=60, now=NOW, late_capture_recorded=True)
    assert again.events == [] and again.order == expired
    failed = domain.settle_charge(expired, _callback(pending, "failed", "network_error"), fee_rate_bp=60, now=NOW)
    assert failed.events == []  # nothing was captured: nothing to give back


def test_the_captured_amount_is_what_goes_back_even_if_it_differs_from_the_order() -> None:
    pending = _pay(_order())
    expired = domain.expire(_timed_out(pending)).order
    assert expired is not None
    (late,) = domain.settle_charge(expired, _callback(pending, amount=500), fee_rate_bp=60, now=NOW).events
    assert isinstance(late, payments.PaymentCapturedLate) and late.amount.amount == 500


def test_a_success_for_a_cancelled_order_is_late_but_the_capture_that_paid_it_is_not() -> None:
    pending = _pay(_order())
    cancelled = _cancel(_timed_out(pending), "changed_mind", BUYER).order
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
    (late,) = domain.settle_charge(cancelled, _callback(pending), fee_rate_bp=60, now=NOW).events
    assert isinstance(late, payments.PaymentCapturedLate) and late.reason == "order_cancelled"
    # paid, cancelled and refunded: the provider repeating the success that paid it is no new money
    paid = _paid()
    refunding = _cancel(paid, "out_of_stock", MERCHANT).order
    assert refunding is not None
    assert domain.settle_charge(refunding, _callback(paid), fee_rate_bp=60, now=NOW).events == []
    refunded = domain.refund_settled(refunding, 12900, "cancelled_by_merchant").order
    assert refunded is not None and refunded.status is OrderStatus.CANCELLED
    assert domain.settle_charge(refunded, _callback(paid), fee_rate_bp=60, now=NOW).events == []


def test_a_second_attempt_captured_for_an_already_paid_order_is_a_late_capture() -> None:
    first = _pay(_order())
    second = _pay(_timed_out(first))
    assert second.intent_id == "PI-O-1-2"
    paid = domain.settle_charge(second, _callback(second), fee_rate_bp=60, now=NOW).order
    assert paid is not None and paid.status is OrderStatus.PAID
    decision = domain.settle_charge(paid, _callback(first), fee_rate_bp=60, now=NOW)  # attempt 1 went through too
    (late,) = decision.events
    assert isinstance(late, payments.PaymentCapturedLate)
    assert (late.intent_id, late.reason) == ("PI-O-1-1", "already_paid") and "重复扣款" in late.message
    assert decision.order == paid
    assert domain.settle_charge(paid, _callback(second), fee_rate_bp=60, now=NOW).events == []  # the payment itself, again
    refunding = _cancel(paid, "out_of_stock", MERCHANT).order
    assert refunding is not None
    assert [e.reason for e in domain.settle_charge(refunding, _callback(first), fee_rate_bp=60, now=NOW).events] == [  # type: ignore[attr-defined]
        "already_paid"]


def test_a_success_for_a_replaced_attempt_is_given_back_and_the_current_attempt_still_pays() -> None:
    first = _pay(_order())
    second = _pay(_timed_out(first))
    decision = domain.settle_charge(second, _callback(first), fee_rate_bp=60, now=NOW)
    (late,) = decision.events
    assert isinstance(late, payments.PaymentCapturedLate) and late.reason == "superseded_attempt"
    assert decision.order == second and second.status is OrderStatus.PAYMENT_PENDING
    paid = domain.settle_charge(second, _callback(second), fee_rate_bp=60, now=NOW)
    assert [type(e) for e in paid.events] == [payments.PaymentSucceeded]



def test_the_fee_schedule_by_industry_method_and_monthly_volume() -> None:
    from services.payments import fees

    assert fees.rate("retail", payments.PaymentMethod.QR_CODE, 0).rate_bp == 60
    assert fees.rate("food", payments.PaymentMethod.QR_CODE, 0).rate_bp == 38
    assert fees.rate("retail", payments.PaymentMethod.IN_APP, 0).rate_bp == 55
    assert fees.rate("retail", payments.PaymentMethod.QR_CODE, 10_000_000).rate_bp == 55
    assert fees.rate("retail", payments.PaymentMethod.QR_CODE, 100_000_000).rate_bp == 50
    assert fees.rate("unknown-industry", payments.PaymentMethod.QR_CODE, 0).industry == "retail"
    assert fees.rate("education", payments.PaymentMethod.IN_APP, 10**9).rate_bp == fees.FLOOR_BP
    # the month turns at midnight China time
    assert fees.month_of(datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)) == "2026-12"
    assert fees.month_of(datetime(2026, 11, 30, 15, 59, tzinfo=timezone.utc)) == "2026-11"


def test_the_cancellation_note_is_kept_and_told_to_the_other_party() -> None:
    from tests.factories import cancel_order

    command = payments.COMMANDS.parse(cancel_order("O-1", "out_of_stock", actor=("merchant", "M-1001"))).data
    command = command.model_copy(update={"note": "尺码缺货 / size sold out"})
    unpaid = domain.cancel(_order(), command, MERCHANT)
    assert unpaid.order is not None and unpaid.order.cancel_note == "尺码缺货 / size sold out"
    told = unpaid.events[0]
    assert isinstance(told, payments.OrderCancelled) and told.note == "尺码缺货 / size sold out"
    paid = domain.cancel(_paid(), command, MERCHANT)  # paid: the note waits for the refund, then is told
    assert paid.order is not None
    settled = domain.refund_settled(paid.order, 12900, "cancelled_by_merchant")
    assert isinstance(settled.events[0], payments.OrderCancelled) and settled.events[0].note == "尺码缺货 / size sold out"


def test_orders_are_in_renminbi_only() -> None:
    document = create_order("O-USD")
    document["data"]["amount"]["currency"] = "USD"
    with pytest.raises(Rejected, match="unsupported_currency"):
        domain.create_order(None, payments.COMMANDS.parse(document).data, MERCHANT, "active")
