from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.escrow import domain as escrow_domain
from services.payments import payouts
from services.payments.payouts import PayoutStatus
from shared.business_days import CalendarUnavailable, add_business_days, business_days_later
from shared.contracts import bank, escrow, payments
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


def test_a_payout_is_requested_reserved_sent_and_settled_once() -> None:
    with pytest.raises(Rejected, match="forbidden"):
        payouts.request(None, REQUEST, Actor(kind="merchant", id="M-2"))
    asked = payouts.request(None, REQUEST, MERCHANT)
    assert isinstance(asked.events[0], payments.PayoutRequested) and asked.payout is not None
    assert payouts.request(asked.payout, REQUEST, MERCHANT).events == []  # the same request again
    scheduled = payouts.reserved(asked.payout, T1)
    assert scheduled.payout is not None and scheduled.payout.transfer_at == T1
    sent = payouts.send(scheduled.payout)
    assert isinstance(sent.events[0], bank.TransferRequested) and sent.events[0].account_ref == "ACCT-M-1"
    assert sent.payout is not None
    settled = payouts.completed(sent.payout, _outcome("settled"))
    assert settled.payout is not None and settled.payout.status is PayoutStatus.SETTLED
    assert payouts.completed(settled.payout, _outcome("settled")).events == []


def test_a_failed_transfer_or_a_short_balance_fails_the_payout() -> None:
    asked = payouts.request(None, REQUEST, MERCHANT).payout
    declined = payouts.declined(asked, "insufficient_balance")
    assert declined.events[0].reserved is False  # type: ignore[attr-defined]
    sent = payouts.send(payouts.reserved(asked, T1).payout).payout
    failed = payouts.completed(sent, _outcome("failed", "account_closed"))
    assert failed.events[0].reason == "account_closed" and failed.events[0].reserved is True  # type: ignore[attr-defined]


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
