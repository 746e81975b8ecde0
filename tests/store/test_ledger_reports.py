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
            store.save_hold(session, None, booked.hold, NOW)
        store.post(session, booked.entry, f"capture:{payment.order_id}", NOW)
        if booked.hold and payment.order_id.endswith("released"):
            decision = domain.release(booked.hold, "buyer_confirmed")
            row, _ = await store.load_hold(session, payment.order_id)
            store.save_hold(session, row, decision.hold, NOW)
            assert decision.entry is not None
            store.post(session, decision.entry, f"release:{payment.order_id}", NOW)


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
