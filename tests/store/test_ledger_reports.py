"""The operator's ledger reports on a real escrow database (SQLite, and PostgreSQL if configured)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import update

from ops.ledger import read_balances, trial_balance
from services.escrow import domain, store
from shared.contracts import payments
from shared.db import Database
from shared.timers import DurableTimer
from tests.unit.test_escrow_domain import NOW, _payment


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables([DurableTimer, *store.TABLES])
    yield database
    await database.dispose()


async def _book(db: Database, payment: payments.PaymentSucceeded) -> None:
    async with db.transaction() as session:
        booked = domain.capture(payment, already_captured=False)
        assert booked is not None
        if booked.hold:
            await store.save_hold(session, booked.hold, NOW)
        await store.post(session, booked.entry, f"capture:{payment.order_id}", NOW)
        if booked.hold and payment.order_id.endswith("released"):
            decision = domain.release(booked.hold, "buyer_confirmed")
            assert await store.load_hold(session, payment.order_id) == booked.hold
            await store.save_hold(session, decision.hold, NOW)
            assert decision.entry is not None
            await store.post(session, decision.entry, f"release:{payment.order_id}", NOW)


async def test_balances_sum_to_zero_and_the_trial_balance_holds(db: Database) -> None:
    await _book(db, _payment(12900, 77, True, "O-held"))
    await _book(db, _payment(5000, 30, True, "O-released"))
    await _book(db, _payment(1000, 6, False, "O-direct"))
    balances = await read_balances(db)
    assert sum(balances.values()) == 0
    assert balances[("escrow_holding", "CNY")] == -12900
    assert balances[("merchant_available:M-1", "CNY")] == -(4970 + 994)
    assert balances[("platform_fees", "CNY")] == -36
    result = await trial_balance(db)
    assert result.balanced and result.entries == 4 and result.debits["CNY"] == result.credits["CNY"]


async def test_the_trial_balance_catches_a_hold_that_does_not_add_up(db: Database) -> None:
    await _book(db, _payment(12900, 77, True, "O-held"))
    async with db.transaction() as session:
        await session.exec(update(store.HoldRow).values(released=13000))  # type: ignore[call-overload]
    result = await trial_balance(db)
    assert not result.balanced and any("captured" in p for p in result.hold_problems)


async def test_the_merchant_day_report_shows_receipts_fees_and_payouts(db: Database) -> None:
    from datetime import date

    from ops.ledger import merchant_day
    from shared.money import Money

    await _book(db, _payment(5000, 30, True, "O-released"))
    await _book(db, _payment(1000, 6, False, "O-direct"))
    await _book(db, _payment(12900, 77, True, "O-held"))  # still held: not the merchant's money yet
    async with db.transaction() as session:
        journal, _ = domain.reserve_payout("PO-1", "M-1", Money(amount=3000), available=5964)
        assert journal is not None
        await store.post(session, journal, "payout-reserved:PO-1", NOW)
    rows = await merchant_day(db, "M-1", date(2026, 11, 23))
    assert sorted((r.kind, r.gross, r.fee, r.net) for r in rows) == sorted([
        ("hold_released", 5000, 30, 4970), ("direct_payment", 1000, 6, 994), ("payout_reserved", 0, 0, -3000)])
    assert await merchant_day(db, "M-1", date(2026, 11, 22)) == []
