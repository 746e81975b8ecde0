from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.clock import ClockLocked, TestableClock
from shared.money import Money, fee_for


@pytest.mark.parametrize(("amount", "rate_bp", "fee"), [
    (12900, 60, 77),      # 77.4 -> 77
    (12500, 60, 75),      # exactly 75
    (25, 200, 1),         # 0.5 -> 1 (half up)
    (24, 200, 0),         # 0.48 -> 0
    (1, 0, 0),
])
def test_fee_rounds_half_up_to_the_fen(amount: int, rate_bp: int, fee: int) -> None:
    assert fee_for(amount, rate_bp) == fee


@given(st.integers(0, 10**12), st.integers(0, 10_000))
def test_fee_is_never_more_than_the_amount_and_never_negative(amount: int, rate_bp: int) -> None:
    fee = fee_for(amount, rate_bp)
    assert 0 <= fee <= amount
    assert abs(fee * 10_000 - amount * rate_bp) <= 5_000  # within half a fen


def test_money_prints_yuan_and_refuses_negative_amounts() -> None:
    assert str(Money(amount=12905)) == "129.05 CNY"
    with pytest.raises(ValueError):
        Money(amount=-1)


def test_the_test_clock_moves_forward_only_and_never_in_production() -> None:
    clock = TestableClock(allowed=True)
    before = clock.now()
    assert clock.advance(3600) == 3600
    assert (clock.now() - before).total_seconds() >= 3600
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ClockLocked):
        TestableClock(allowed=False).advance(60)


def test_production_mode_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.payments.config import PaymentsSettings

    monkeypatch.setenv("DANBAO_MODE", "production")
    with pytest.raises(ValueError, match="DANBAO_PAYMENTS_PSP_CALLBACK_SECRET"):
        PaymentsSettings()
    monkeypatch.setenv("DANBAO_PAYMENTS_PSP_CALLBACK_SECRET", "a-real-secret-from-the-vault")
    with pytest.raises(ValueError, match="still has its development default"):
        PaymentsSettings()
    monkeypatch.setenv("DANBAO_PAYMENTS_PAYMENT_TOKEN_SECRET", "another-real-secret")
    monkeypatch.setenv("DANBAO_PAYMENTS_BANK_CALLBACK_SECRET", "a-third-real-secret")
    assert PaymentsSettings().psp_callback_secret == "a-real-secret-from-the-vault"
