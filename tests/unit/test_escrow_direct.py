"""Payments without the guarantee, pure: credited at payment, shipped, cancelled before shipment (refunded
from the merchant's balance and the fee, or refused for want of balance), frozen by a case; and over any
sequence of those, money neither appears nor vanishes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow import direct, domain
from shared.contracts import escrow
from shared.envelope import Actor
from shared.money import Money
from shared.unit_of_work import Rejected
from tests.unit.test_escrow_domain import BUYER, MERCHANT, NOW, _payment

SHIP = escrow.RecordShipment(order_id="O-1", carrier="SF", tracking_no="SF1")


def _credited(amount: int = 12900, fee: int = 77) -> direct.DirectPayment:
    booked = domain.capture(_payment(amount, fee, False), already_captured=False)
    assert booked is not None and booked.hold is None and booked.direct is not None
    return booked.direct


def _lines(journal: domain.JournalEntry | None) -> dict[str, int]:
    assert journal is not None and sum(line.amount for line in journal.lines) == 0
    return {line.account: line.amount for line in journal.lines}


def test_a_direct_payment_is_credited_and_kept_for_its_shipment_and_refunds() -> None:
    booked = domain.capture(_payment(12900, 77, False), already_captured=False)
    assert booked is not None and booked.direct == direct.DirectPayment(
        order_id="O-1", merchant_id="M-1", buyer_id="B-1", amount=12900, currency="CNY", fee=77, auto_confirm_days=7)
    credited = booked.events[0]
    assert isinstance(credited, escrow.MerchantCredited) and credited.buyer_id == "B-1"  # disputes learns the order


def test_only_its_merchant_ships_it_once_and_the_after_sale_window_starts() -> None:
    paid = _credited()
    with pytest.raises(Rejected, match="forbidden"):
        direct.record_shipment(paid, SHIP, BUYER, NOW)
    with pytest.raises(Rejected, match="forbidden"):
        direct.record_shipment(paid, SHIP, Actor(kind="merchant", id="M-2"), NOW)
    shipped = direct.record_shipment(paid, SHIP, MERCHANT, NOW)
    (event,) = shipped.events
    assert isinstance(event, escrow.DirectOrderShipped) and event.deemed_received_at == NOW + timedelta(days=7)
    assert shipped.entry is None  # nothing is held, nothing is released
    with pytest.raises(Rejected, match="illegal_transition"):
        direct.record_shipment(shipped.payment, SHIP, MERCHANT, NOW)
    frozen = direct.freeze(paid, "C-1")
    assert frozen is not None and direct.freeze(frozen, "C-2") is None
    with pytest.raises(Rejected, match="case_open"):
        direct.record_shipment(frozen, SHIP, MERCHANT, NOW)
    assert direct.unfreeze(frozen, "C-2") is None and direct.unfreeze(frozen, "C-1") == paid


def test_a_cancellation_before_shipment_refunds_the_buyer_from_the_merchant_and_the_fee() -> None:
    paid = _credited()
    refunded = direct.refund_for_cancellation(paid, 12900, "cancelled_by_merchant", available=12823)
    assert isinstance(refunded, direct.DirectDecision)
    assert _lines(refunded.entry) == {"merchant_available:M-1": 12823, domain.PLATFORM_FEES: 77,
                                      "buyer_refunds_payable:B-1": -12900}
    (event,) = refunded.events
    assert isinstance(event, escrow.DirectPaymentRefunded)
    assert (event.amount.amount, event.from_merchant, event.fee_returned, event.reason, event.provider_refund_id) == (
        12900, 12823, 77, "cancelled_by_merchant", "RF-O-1-D")
    again = direct.refund_for_cancellation(refunded.payment, 12900, "cancelled_by_buyer", available=99999)
    assert again == escrow.RefundRefused(order_id="O-1", reason="already_settled")
    with pytest.raises(Rejected, match="illegal_transition"):  # a cancelled order is not shipped
        direct.record_shipment(refunded.payment, SHIP, MERCHANT, NOW)


@pytest.mark.parametrize(("paid", "amount", "available", "reason"), [
    (direct.record_shipment(_credited(), SHIP, MERCHANT, NOW).payment, 12900, 99999, "already_shipped"),
    (direct.freeze(_credited(), "C-1"), 12900, 99999, "case_open"),
    (direct.case_refund_ordered(_credited(), 3800), 12900, 99999, "amount_mismatch"),
    (_credited(), 12800, 99999, "amount_mismatch"),
    (_credited(), 12900, 12822, "merchant_balance_short"),
])
def test_a_cancellation_refund_is_refused_with_a_reason_and_moves_nothing(paid: direct.DirectPayment, amount: int,
                                                                          available: int, reason: str) -> None:
    refused = direct.refund_for_cancellation(paid, amount, "cancelled_by_buyer", available)
    assert isinstance(refused, escrow.RefundRefused) and refused.reason == reason
    if reason == "merchant_balance_short":
        assert (refused.needed, refused.available) == (12823, 12822)


DIRECT_ACTIONS = st.lists(st.sampled_from(["ship", "cancel", "open", "close", "case_refund", "withdraw"]), max_size=12)


@given(st.integers(1, 10**9), st.integers(0, 10_000), st.integers(0, 10**9), DIRECT_ACTIONS)
def test_any_sequence_on_a_direct_payment_keeps_money_whole(amount: int, rate_bp: int, other_income: int,
                                                            actions: list[str]) -> None:
    """Whatever happens to a payment without the guarantee: the ledger balances, the merchant's available balance
    never goes below zero, the buyer is refunded by a cancellation at most once and only before shipment, and a
    cancellation never follows a refund ordered by a case."""
    fee = amount * rate_bp // 10_000
    booked = domain.capture(_payment(amount, fee, False), already_captured=False)
    assert booked is not None and booked.direct is not None
    paid, balances = booked.direct, {}
    shipped = cancelled = False

    def post(journal: domain.JournalEntry | None) -> None:
        for line in journal.lines if journal else ():
            balances[line.account] = balances.get(line.account, 0) + line.amount

    post(booked.entry)
    if other_income:  # the merchant's other sales, or withdrawals already made (negative)
        post(domain.entry("other", None, "CNY", (domain.PSP_CLEARING, other_income), ("merchant_available:M-1", -other_income)))
    for action in actions:
        available = -balances.get("merchant_available:M-1", 0)
        if action == "ship":
            try:
                paid = direct.record_shipment(paid, SHIP, MERCHANT, NOW).payment
                shipped = True
            except Rejected:
                continue
        elif action == "cancel":
            outcome = direct.refund_for_cancellation(paid, amount, "cancelled_by_buyer", available)
            if isinstance(outcome, escrow.RefundRefused):
                continue
            assert not shipped and not cancelled and paid.case_refunds == 0
            cancelled = True
            paid = outcome.payment
            post(outcome.entry)
        elif action == "open":
            paid = direct.freeze(paid, "C-1") or paid
        elif action == "close":
            paid = direct.unfreeze(paid, "C-1") or paid
        elif action == "case_refund":
            paid = direct.case_refund_ordered(paid, 1)
        else:  # the merchant withdraws all it has
            if available > 0:
                post(domain.reserve_payout("PO", "M-1", Money(amount=available), available)[0])
        assert sum(balances.values()) == 0
        assert balances.get("merchant_available:M-1", 0) <= 0  # a liability: never owed by the merchant
    if cancelled:
        assert balances["buyer_refunds_payable:B-1"] == -amount and balances.get(domain.PLATFORM_FEES, 0) == 0
