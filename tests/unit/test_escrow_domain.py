from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow import domain
from shared.contracts import payments


def _payment(amount: int, fee: int, guaranteed: bool, order_id: str = "O-1") -> payments.PaymentSucceeded:
    return payments.PaymentSucceeded(
        order_id=order_id, intent_id="PI-1", merchant_id="M-1", buyer_id="B-1",
        amount={"amount": amount, "currency": "CNY"}, fee=fee, guaranteed=guaranteed, auto_confirm_days=7,
        method="qr_code", provider_txn_id="PSP-1",
    )


def test_a_guaranteed_payment_is_held_in_full() -> None:
    booked = domain.capture(_payment(12900, 77, True), already_captured=False)
    assert booked is not None and booked.hold is not None
    assert booked.hold.captured == 12900 and booked.hold.remaining == 12900
    assert {(line.account, line.amount) for line in booked.entry.lines} == {
        (domain.PSP_CLEARING, 12900), (domain.ESCROW_HOLDING, -12900)}


def test_a_direct_payment_goes_to_the_merchant_less_the_fee() -> None:
    booked = domain.capture(_payment(12900, 77, False), already_captured=False)
    assert booked is not None and booked.hold is None
    lines = {line.account: line.amount for line in booked.entry.lines}
    assert lines == {domain.PSP_CLEARING: 12900, "merchant_available:M-1": -12823, domain.PLATFORM_FEES: -77}


def test_a_payment_is_booked_once() -> None:
    assert domain.capture(_payment(100, 1, True), already_captured=True) is None


def test_unbalanced_entries_cannot_be_built() -> None:
    with pytest.raises(domain.UnbalancedEntry):
        domain.entry("broken", None, "CNY", ("a", 100), ("b", -99))
    with pytest.raises(domain.UnbalancedEntry):
        domain.capture(_payment(100, 101, False), already_captured=False)


@given(st.lists(st.tuples(st.integers(1, 10**9), st.integers(0, 10_000), st.booleans()), max_size=40))
def test_any_sequence_of_captures_keeps_the_ledger_balanced(payments_: list[tuple[int, int, bool]]) -> None:
    balances: dict[str, int] = {}
    for n, (amount, rate_bp, guaranteed) in enumerate(payments_):
        fee = amount * rate_bp // 10_000
        booked = domain.capture(_payment(amount, fee, guaranteed, f"O-{n}"), already_captured=False)
        assert booked is not None
        for line in booked.entry.lines:
            balances[line.account] = balances.get(line.account, 0) + line.amount
    assert sum(balances.values()) == 0
    assert balances.get(domain.PSP_CLEARING, 0) == sum(a for a, _, _ in payments_)
    assert balances.get(domain.ESCROW_HOLDING, 0) == -sum(a for a, _, g in payments_ if g)
