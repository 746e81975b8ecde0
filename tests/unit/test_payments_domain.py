from __future__ import annotations

import pytest

from services.payments import domain
from services.payments.domain import OrderStatus
from shared.contracts import payments, psp
from shared.envelope import Actor
from shared.unit_of_work import Rejected
from tests.factories import create_order, pay_order

MERCHANT = Actor(kind="merchant", id="M-1001")
BUYER = Actor(kind="buyer", id="B-2001")
SECRET = "s3cret"


def _order() -> domain.Order:
    command = payments.COMMANDS.parse(create_order("O-1")).data
    decision = domain.create_order(None, command, MERCHANT)
    assert decision.order is not None
    return decision.order


def _pay(order: domain.Order) -> domain.Order:
    command = payments.COMMANDS.parse(pay_order("O-1")).data
    decision = domain.pay(order, command, BUYER, "https://pay.example/p")
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
        domain.create_order(None, command, Actor(kind="merchant", id="M-OTHER"))
    assert caught.value.reason == "wrong_actor"
    order = _order()
    assert domain.create_order(order, command, MERCHANT).events == []
    different = payments.COMMANDS.parse(create_order("O-1", unit_price=1)).data
    with pytest.raises(Rejected, match="order_exists"):
        domain.create_order(order, different, MERCHANT)


def test_paying_by_qr_code_creates_an_intent_and_a_charge_request() -> None:
    order = _order()
    decision = domain.pay(order, payments.COMMANDS.parse(pay_order("O-1")).data, BUYER, "https://pay.example/p")
    intent, charge = decision.events
    assert isinstance(intent, payments.PaymentIntentCreated) and intent.qr_payload == "https://pay.example/p?intent=PI-O-1-1"
    assert isinstance(charge, psp.ChargeRequested) and charge.amount == order.amount
    assert decision.order is not None and decision.order.status is OrderStatus.PAYMENT_PENDING


def test_only_the_buyer_pays_and_never_twice_at_once() -> None:
    order = _order()
    with pytest.raises(Rejected, match="wrong_actor"):
        domain.pay(order, payments.COMMANDS.parse(pay_order("O-1")).data, Actor(kind="buyer", id="B-X"), "u")
    pending = _pay(order)
    with pytest.raises(Rejected, match="payment_in_progress"):
        _pay(pending)


def test_success_computes_the_fee_and_a_duplicate_callback_changes_nothing() -> None:
    pending = _pay(_order())
    decision = domain.settle_charge(pending, _callback(pending), fee_rate_bp=60)
    (succeeded,) = decision.events
    assert isinstance(succeeded, payments.PaymentSucceeded) and succeeded.fee == 77
    assert decision.order is not None and decision.order.status is OrderStatus.PAID
    assert domain.settle_charge(decision.order, _callback(pending), fee_rate_bp=60).events == []
    with pytest.raises(Rejected, match="already_paid"):
        _pay(decision.order)


def test_a_failed_payment_tells_the_buyer_why_and_may_be_paid_again() -> None:
    pending = _pay(_order())
    decision = domain.settle_charge(pending, _callback(pending, "failed", "insufficient_balance"), fee_rate_bp=60)
    (failed,) = decision.events
    assert isinstance(failed, payments.PaymentFailed) and "余额不足" in failed.message
    assert decision.order is not None
    again = _pay(decision.order)
    assert again.intent_id == "PI-O-1-2" and again.attempts == 2
    stale = domain.settle_charge(again, _callback(pending), fee_rate_bp=60)  # an answer for attempt 1
    assert stale.events == []


def test_a_capture_for_a_different_amount_is_refused() -> None:
    pending = _pay(_order())
    with pytest.raises(Rejected, match="amount_mismatch"):
        domain.settle_charge(pending, _callback(pending, amount=1), fee_rate_bp=60)


def test_callback_signatures_detect_tampering() -> None:
    pending = _pay(_order())
    callback = _callback(pending)
    assert callback.signature_valid(SECRET)
    assert not callback.model_copy(update={"provider_txn_id": "PSP-forged"}).signature_valid(SECRET)
    assert not callback.signature_valid("another-secret")
