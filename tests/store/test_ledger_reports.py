"""The operator's ledger reports on a real escrow database (SQLite, and PostgreSQL if configured)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import delete, update

from ops.ledger import read_balances, trial_balance
from services.escrow import domain, store
from shared.contracts import payments
from shared.db import Database
from shared.timers import DurableTimer
from tests.unit.test_escrow_domain import NOW, _payment
from shared.workspace import Workspace


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
            await store.save_hold(Workspace(session), booked.hold, NOW)
        await store.post(Workspace(session), booked.entry, f"capture:{payment.order_id}", NOW)
        if booked.hold and payment.order_id.endswith("released"):
            decision = domain.release(booked.hold, "buyer_confirmed")
            assert await store.load_hold(Workspace(session), payment.order_id) == booked.hold
            await store.save_hold(Workspace(session), decision.hold, NOW)
            assert decision.entry is not None
            await store.post(Workspace(session), decision.entry, f"release:{payment.order_id}", NOW)


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


async def test_parties_accounts_keep_running_balances_equal_to_their_journal(db: Database) -> None:
    """A payout or a case refund decides on the merchant's running balance (one locked row), which every
    posting keeps equal to the sum of the account's journal lines; pooled accounts are not kept."""
    await _book(db, _payment(12900, 77, True, "O-held"))
    await _book(db, _payment(5000, 30, True, "O-released"))
    await _book(db, _payment(1000, 6, False, "O-direct"))
    async with db.transaction() as session:
        running = await store.running_balances(session)
        assert running == {("merchant_available:M-1", "CNY"): -(4970 + 994)}
        assert await store.balance(Workspace(session), "merchant_available:M-1", "CNY") == -(4970 + 994)
        assert await store.balance(Workspace(session), "merchant_available:M-NOBODY", "CNY") == 0
        assert await store.journal_balance(session, "merchant_available:M-1", "CNY") == -(4970 + 994)
        with pytest.raises(AssertionError):
            await store.balance(Workspace(session), "escrow_holding", "CNY")  # pooled: summed from the journal
    assert (await trial_balance(db)).balanced


async def test_the_trial_balance_catches_a_running_balance_that_differs_from_the_journal(db: Database) -> None:
    await _book(db, _payment(1000, 6, False, "O-direct"))
    async with db.transaction() as session:
        await session.exec(update(store.AccountBalanceRow).values(balance=-1))  # type: ignore[call-overload]
    result = await trial_balance(db)
    assert not result.balanced
    assert result.running_balance_problems == ["merchant_available:M-1 (CNY): running balance -1, journal -994"]


async def test_two_payouts_deciding_on_one_merchant_balance_at_once_take_turns(db: Database) -> None:
    """Two escrow instances (or consumer and timer) reserve from the same balance at the same moment:
    the second reads the balance after the first has committed, so the money is not paid out twice.
    (Summed from the journal under READ COMMITTED, both read 994 and both reserved it.)"""
    import asyncio

    from shared.money import Money

    await _book(db, _payment(1000, 6, False, "O-direct"))  # M-1 has 994 available
    first_has_read = asyncio.Event()

    async def reserve(payout_id: str, first: bool) -> str:
        if not first:
            await first_has_read.wait()
        async with db.transaction() as session:
            available = -await store.balance(Workspace(session), "merchant_available:M-1", "CNY")
            if first:
                first_has_read.set()
                await asyncio.sleep(0.3)  # the other decides meanwhile, or waits for this one
            journal, event = domain.reserve_payout(payout_id, "M-1", Money(amount=994), available)
            if journal is not None:
                await store.post(Workspace(session), journal, f"payout-reserved:{payout_id}", NOW)
            return event.TYPE

    outcomes = await asyncio.gather(reserve("PO-1", True), reserve("PO-2", False))
    assert outcomes == ["escrow.payout.reserved", "escrow.payout.declined"]
    async with db.transaction() as session:
        assert await store.balance(Workspace(session), "merchant_available:M-1", "CNY") == 0
    assert (await trial_balance(db)).balanced


async def test_a_journal_kept_before_running_balances_gets_them_once_at_start_up(db: Database) -> None:
    await _book(db, _payment(5000, 30, True, "O-released"))
    await _book(db, _payment(1000, 6, False, "O-direct"))
    async with db.transaction() as session:
        await session.exec(delete(store.AccountBalanceRow))  # type: ignore[call-overload]
    assert not (await trial_balance(db)).balanced
    async with db.transaction() as session:
        assert await store.backfill_running_balances(session, NOW) == 1
    async with db.transaction() as session:
        assert await store.backfill_running_balances(session, NOW) == 0  # once: never added twice
        assert await store.balance(Workspace(session), "merchant_available:M-1", "CNY") == -(4970 + 994)
    assert (await trial_balance(db)).balanced


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
        await store.post(Workspace(session), journal, "payout-reserved:PO-1", NOW)
    rows = await merchant_day(db, "M-1", date(2026, 11, 23))
    assert sorted((r.kind, r.gross, r.fee, r.net) for r in rows) == sorted([
        ("hold_released", 5000, 30, 4970), ("direct_payment", 1000, 6, 994), ("payout_reserved", 0, 0, -3000)])
    assert await merchant_day(db, "M-1", date(2026, 11, 22)) == []
