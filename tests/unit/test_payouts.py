from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.escrow import domain as escrow_domain
from services.payments import payouts
from services.payments.config import PaymentsSettings
from services.payments.payouts import PayoutStatus
from shared.business_days import CalendarUnavailable, add_business_days, business_days_later
from shared.contracts import bank, escrow, payments
from shared.contracts.settlement import SettlementAccountKind
from shared.envelope import Actor
from shared.money import Money
from shared.unit_of_work import Rejected

MERCHANT = Actor(kind="merchant", id="M-1")
REQUEST = payments.RequestPayout(payout_id="PO-1", merchant_id="M-1", amount=Money(amount=10000))
T1 = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)


def _outcome(status: str, reason: str | None = None) -> bank.TransferCompleted:
    return bank.TransferCompleted(payout_id="PO-1", status=status, amount=Money(amount=10000), bank_txn_id="BK-1",
                                  failure_reason=reason, signature="").signed("s")


def test_t_plus_one_business_day_skips_weekends_and_statutory_holidays() -> None:
    assert add_business_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday -> Monday
    assert add_business_days(date(2026, 9, 30), 1) == date(2026, 10, 8)   # over the National Day holiday
    assert business_days_later(datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), 1) == T1  # 23:00 China time on the 23rd
    with pytest.raises(CalendarUnavailable):                              # no holiday data: refused, never weekdays
        add_business_days(date(2031, 1, 3), 1)


ACCOUNT = payouts.PayoutAccount("SA-1", "6222 **** **** 0128", SettlementAccountKind.CORPORATE, "v1:k1:sealed")
ACTIVE = payouts.MerchantPayouts("active", ACCOUNT)


def test_a_payout_is_requested_reserved_sent_to_the_verified_account_and_settled_once() -> None:
    with pytest.raises(Rejected, match="forbidden"):
        payouts.request(None, REQUEST, Actor(kind="merchant", id="M-2"), ACTIVE)
    asked = payouts.request(None, REQUEST, MERCHANT, ACTIVE)
    assert isinstance(asked.events[0], payments.PayoutRequested) and asked.payout is not None
    assert (asked.payout.account_ref, asked.payout.account_kind) == ("SA-1", "corporate")
    assert payouts.request(asked.payout, REQUEST, MERCHANT, ACTIVE).events == []  # the same request again
    scheduled = payouts.reserved(asked.payout, T1, 2)
    assert scheduled.payout is not None and scheduled.payout.transfer_at == T1
    (event,) = scheduled.events
    assert isinstance(event, payments.PayoutScheduled) and (event.business_days, event.account_ref) == (2, "SA-1")
    sent = payouts.send(scheduled.payout, ACTIVE)
    (transfer,) = sent.events
    assert isinstance(transfer, bank.TransferRequested)
    assert (transfer.account_ref, transfer.account_masked, transfer.account_kind, transfer.sealed_account) == (
        "SA-1", "6222 **** **** 0128", "corporate", "v1:k1:sealed")
    assert sent.payout is not None
    settled = payouts.completed(sent.payout, _outcome("settled"))
    assert settled.payout is not None and settled.payout.status is PayoutStatus.SETTLED
    assert payouts.completed(settled.payout, _outcome("settled")).events == []


@pytest.mark.parametrize(("merchant", "reason"), [
    (payouts.MerchantPayouts("suspended", ACCOUNT), "merchant_suspended"),
    (payouts.MerchantPayouts("active", ACCOUNT, held="under a risk review"), "payouts_held"),
    (payouts.MerchantPayouts("active", None), "no_verified_account"),
    (payouts.MerchantPayouts(None), "no_verified_account"),
])
def test_a_payout_is_refused_for_a_suspended_or_held_merchant_or_one_without_a_verified_account(
        merchant: payouts.MerchantPayouts, reason: str) -> None:
    with pytest.raises(Rejected) as refused:
        payouts.request(None, REQUEST, MERCHANT, merchant)
    assert refused.value.reason == reason
    first = payouts.request(None, REQUEST, MERCHANT, ACTIVE).payout
    assert payouts.request(first, REQUEST, MERCHANT, merchant).events == []  # asked again: the first outcome stands


@pytest.mark.parametrize(("merchant", "reason"), [
    (payouts.MerchantPayouts("suspended", ACCOUNT), "merchant_suspended"),
    (payouts.MerchantPayouts("active", ACCOUNT, held="under a risk review"), "payouts_held"),
    (payouts.MerchantPayouts("active", payouts.PayoutAccount("SA-2", "****", SettlementAccountKind.CORPORATE, "x")),
     "settlement_account_changed"),
])
def test_a_scheduled_payout_is_not_sent_if_the_merchant_was_suspended_held_or_changed_account(
        merchant: payouts.MerchantPayouts, reason: str) -> None:
    scheduled = payouts.reserved(payouts.request(None, REQUEST, MERCHANT, ACTIVE).payout, T1).payout
    failed = payouts.send(scheduled, merchant)
    (event,) = failed.events
    assert isinstance(event, payments.PayoutFailed) and (event.reason, event.reserved) == (reason, True)
    assert failed.payout is not None and failed.payout.status is PayoutStatus.FAILED


def test_a_failed_transfer_a_short_balance_or_no_calendar_fails_the_payout() -> None:
    asked = payouts.request(None, REQUEST, MERCHANT, ACTIVE).payout
    declined = payouts.declined(asked, "insufficient_balance")
    assert declined.events[0].reserved is False  # type: ignore[attr-defined]
    unschedulable = payouts.unschedulable(asked, "calendar_unavailable")
    assert unschedulable.events[0].reason == "calendar_unavailable" and unschedulable.events[0].reserved is True  # type: ignore[attr-defined]
    sent = payouts.send(payouts.reserved(asked, T1).payout, ACTIVE).payout
    failed = payouts.completed(sent, _outcome("failed", "account_closed"))
    assert failed.events[0].reason == "account_closed" and failed.events[0].reserved is True  # type: ignore[attr-defined]


def test_the_payout_schedule_takes_the_first_rule_matching_the_account_kind_and_amount() -> None:
    rules = PaymentsSettings().payout_schedule
    card, corporate = SettlementAccountKind.PERSONAL_CARD, SettlementAccountKind.CORPORATE
    assert payouts.business_days_for(rules, card, 5_000_000) == 1
    assert payouts.business_days_for(rules, card, 5_000_001) == 2
    assert payouts.business_days_for(rules, corporate, 100_000_000) == 1
    assert payouts.business_days_for(rules, corporate, 100_000_001) == 3
    assert payouts.business_days_for([], corporate, 1) == 1  # no rule matches: T+1
    only_large = [payouts.PayoutRule(max_amount=10, business_days=1), payouts.PayoutRule(business_days=2)]
    assert [payouts.business_days_for(only_large, None, a) for a in (10, 11)] == [1, 2]
    with pytest.raises(ValueError):
        payouts.PayoutRule(business_days=4)  # the seed's 1 to 3 business days
    with pytest.raises(ValueError):
        payouts.PayoutRule(channel="wire", business_days=1)  # type: ignore[arg-type]


def test_the_schedule_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANBAO_PAYMENTS_PAYOUT_SCHEDULE", '[{"channel": "corporate", "business_days": 3}]')
    assert PaymentsSettings().payout_schedule == [payouts.PayoutRule(channel=SettlementAccountKind.CORPORATE, business_days=3)]
    monkeypatch.setenv("DANBAO_PAYMENTS_PAYOUT_SCHEDULE", '[{"channel": "corporate", "business_days": 5}]')
    with pytest.raises(ValueError):
        PaymentsSettings()


def test_the_bank_opens_the_sealed_account_and_refuses_a_transfer_it_cannot_read() -> None:
    from services.simulators import bank as simulator
    from shared.contracts.settlement import seal_account

    settings = simulator.BankSimulatorSettings()
    cipher = settings.account_seal()
    sealed = seal_account("6222 0212 3456 7890 128", "M-1", "SA-1", cipher)
    transfer = bank.TransferRequested(payout_id="PO-1", merchant_id="M-1", account_ref="SA-1", amount=Money(amount=100),
                                      sealed_account=sealed)
    assert simulator.account_number(transfer, cipher) == "6222021234567890128"
    assert simulator.answer(transfer, "s", cipher).status is bank.TransferStatus.SETTLED
    moved = transfer.model_copy(update={"account_ref": "SA-2"})  # the sealed number is bound to its reference
    assert simulator.answer(moved, "s", cipher).failure_reason == "account_unreadable"
    assert simulator.answer(transfer.model_copy(update={"sealed_account": None}), "s", cipher).failure_reason == "account_unreadable"
    closed = bank.TransferRequested(payout_id="PO-2", merchant_id="M-CLOSED-1", account_ref="SA-1", amount=Money(amount=100),
                                    sealed_account=seal_account("6222021234567890128", "M-CLOSED-1", "SA-1", cipher))
    assert simulator.answer(closed, "s", cipher).failure_reason == "account_closed"


def test_escrow_reserves_only_what_is_available_and_returns_a_failed_payout() -> None:
    entry, event = escrow_domain.reserve_payout("PO-1", "M-1", Money(amount=10000), available=12823)
    assert isinstance(event, escrow.PayoutReserved) and event.available_after == 2823 and entry is not None
    assert {(x.account, x.amount) for x in entry.lines} == {("merchant_available:M-1", 10000), ("merchant_payout_pending:M-1", -10000)}
    entry, event = escrow_domain.reserve_payout("PO-2", "M-1", Money(amount=10000), available=9999)
    assert entry is None and isinstance(event, escrow.PayoutDeclined) and event.reason == "insufficient_balance"
    paid = escrow_domain.payout_paid("M-1", Money(amount=10000))
    returned = escrow_domain.payout_returned("M-1", Money(amount=10000))
    assert {(x.account, x.amount) for x in paid.lines} == {("merchant_payout_pending:M-1", 10000), ("psp_clearing", -10000)}
    assert {(x.account, x.amount) for x in returned.lines} == {("merchant_payout_pending:M-1", 10000), ("merchant_available:M-1", -10000)}


def test_payouts_are_in_renminbi_only() -> None:
    usd = payments.RequestPayout(payout_id="PO-USD", merchant_id="M-1", amount=Money(amount=10000, currency="USD"))
    with pytest.raises(Rejected, match="unsupported_currency"):
        payouts.request(None, usd, MERCHANT, ACTIVE)
