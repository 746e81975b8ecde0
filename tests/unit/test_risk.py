"""The published risk rules, pure: each fires past its limit and not before, with its figures."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from services.payments.config import PaymentsSettings
from services.payments.risk import DEFAULT_RULES, PaymentFigures, RiskRules, RuleSetting
from shared.contracts.risk import RiskOutcome

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
RULES = RiskRules(dict(DEFAULT_RULES))
QUIET = PaymentFigures(buyer_id="B-1", merchant_id="M-1", device_id="DEV-1", amount=10_000, buyer_failures=0, buyer_payments=0,
                       device_payments=0, merchant_payments=0, merchant_paid_count=0, merchant_paid_total=0,
                       merchant_active_since=None, merchant_paid_recently=0, raise_by=1)


def test_a_quiet_payment_is_allowed() -> None:
    assert RULES.payment(QUIET, NOW) is None


def test_velocity_per_buyer_device_and_merchant_reviews_past_the_limit() -> None:
    assert RULES.payment(replace(QUIET, buyer_payments=9), NOW) is None  # the 10th is allowed
    verdict = RULES.payment(replace(QUIET, buyer_payments=10), NOW)
    assert verdict is not None and (verdict.rule, verdict.outcome, verdict.observed, verdict.threshold) == (
        "R-VELOCITY-BUYER", RiskOutcome.REVIEW, 11, 10)
    assert verdict.detail == "11 payments by B-1 in 10 minutes; at most 10"
    device = RULES.payment(replace(QUIET, device_payments=10), NOW)
    assert device is not None and device.rule == "R-VELOCITY-DEVICE"
    assert RULES.payment(replace(QUIET, device_id=None, device_payments=10), NOW) is None  # no device reported
    merchant = RULES.payment(replace(QUIET, merchant_payments=300), NOW)
    assert merchant is not None and merchant.rule == "R-VELOCITY-MERCHANT" and merchant.threshold == 300
    assert RULES.payment(replace(QUIET, merchant_payments=300, raise_by=1000), NOW) is None  # a raised merchant


def test_many_failed_attempts_block_before_any_review() -> None:
    verdict = RULES.payment(replace(QUIET, buyer_failures=5, buyer_payments=50), NOW)
    assert verdict is not None and (verdict.rule, verdict.outcome) == ("R-FAILED-ATTEMPTS", RiskOutcome.BLOCK)
    assert RULES.payment(replace(QUIET, buyer_failures=4), NOW) is None


def test_an_amount_far_above_the_merchant_s_usual_is_reviewed_once_it_has_a_history() -> None:
    usual = replace(QUIET, merchant_paid_count=20, merchant_paid_total=20 * 5_000)  # average 50 yuan
    assert RULES.payment(replace(usual, amount=50_000), NOW) is None  # ten times: allowed
    verdict = RULES.payment(replace(usual, amount=50_001), NOW)
    assert verdict is not None and (verdict.rule, verdict.observed, verdict.threshold) == ("R-AMOUNT-UNUSUAL", 50_001, 50_000)
    assert RULES.payment(replace(usual, merchant_paid_count=19, amount=10**7), NOW) is None  # too little history


def test_a_new_merchant_s_sudden_volume_is_reviewed() -> None:
    new = replace(QUIET, merchant_active_since=NOW - timedelta(days=3), merchant_paid_recently=4_990_000)
    assert RULES.payment(new, NOW) is None  # 50,000 yuan exactly
    verdict = RULES.payment(replace(new, amount=10_001), NOW)
    assert verdict is not None and verdict.rule == "R-NEW-MERCHANT-VOLUME" and verdict.observed == 5_000_001
    assert RULES.payment(replace(new, amount=10_001, merchant_active_since=NOW - timedelta(days=31)), NOW) is None


def test_a_large_payout_right_after_large_incoming_funds_is_reviewed() -> None:
    assert RULES.payout("M-1", 999_999, 999_999) is None  # below the floor
    assert RULES.payout("M-1", 2_000_000, 1_590_000) is None  # 79% came in today
    verdict = RULES.payout("M-1", 2_000_000, 1_600_000)
    assert verdict is not None and (verdict.rule, verdict.observed, verdict.threshold) == ("R-PAYOUT-AFTER-INFLOW", 80, 80)


def test_repeated_merchant_cancellations_are_reviewed() -> None:
    assert RULES.cancellation("M-1", 20, 1) is None
    verdict = RULES.cancellation("M-1", 21, 1)
    assert verdict is not None and verdict.rule == "R-CANCEL-MERCHANT" and verdict.detail == "M-1 cancelled 21 paid orders in 1 day; at most 20"
    assert RULES.cancellation("M-1", 21, 2) is None


def test_the_rule_table_is_a_setting_and_a_rule_can_be_turned_off_or_made_to_block(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DANBAO_PAYMENTS_RISK_RULES", '{"R-VELOCITY-BUYER": {"window_minutes": 5, "threshold": 2, "outcome": "block"},'
                                                     ' "R-FAILED-ATTEMPTS": {"window_minutes": 60, "threshold": 1, "enabled": false}}')
    monkeypatch.setenv("DANBAO_PAYMENTS_RISK_MERCHANT_LIMITS", "M-9:5, M-8:2")
    settings = PaymentsSettings()
    rules = settings.risk()
    assert rules.rules["R-VELOCITY-BUYER"] == RuleSetting(window_minutes=5, threshold=2, outcome=RiskOutcome.BLOCK)
    assert rules.rules["R-AMOUNT-UNUSUAL"] == DEFAULT_RULES["R-AMOUNT-UNUSUAL"]  # left out: the default
    verdict = rules.payment(replace(QUIET, buyer_payments=2, buyer_failures=9), NOW)
    assert verdict is not None and (verdict.rule, verdict.outcome) == ("R-VELOCITY-BUYER", RiskOutcome.BLOCK)
    assert settings.risk_raises(settings.risk_merchant_limits) == {"M-9": 5, "M-8": 2}
