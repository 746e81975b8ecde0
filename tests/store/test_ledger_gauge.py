"""Escrow's ``danbao_ledger_imbalance`` gauge: the trial balance as one number, 0 while the journal balances."""

from __future__ import annotations

from services.escrow.app import ledger_imbalance
from services.escrow.store import TABLES, JournalEntryRow, JournalLineRow
from shared.db import Database
from shared.service_http import at_most_every


async def test_the_gauge_is_zero_while_every_entry_balances_and_shows_the_difference_otherwise(database_url: str) -> None:
    from datetime import datetime, timezone

    db = Database(database_url)
    try:
        await db.create_tables(TABLES)
        assert await ledger_imbalance(db) == 0
        async with db.transaction() as session:
            for entry_id, lines in {"E-1": [("payment_clearing", 12900), ("escrow_holding", -12900)],
                                    "E-2": [("escrow_holding", 12900), ("merchant_available:M-1", -12513),
                                            ("platform_fees", -387)]}.items():
                session.add(JournalEntryRow(entry_id=entry_id, kind="test", reference=entry_id, currency="CNY",
                                             posted_at=datetime.now(timezone.utc)))
                await session.flush()
                session.add_all([JournalLineRow(entry_id=entry_id, account=a, currency="CNY", amount=n) for a, n in lines])
        assert await ledger_imbalance(db) == 0

        now = [0.0]
        cached = at_most_every(60, ledger_imbalance, clock=lambda: now[0])
        assert await cached(db) == 0
        async with db.transaction() as session:  # a bug posts a line without its other side
            session.add(JournalLineRow(entry_id="E-2", account="platform_fees", currency="CNY", amount=-5))
            session.add(JournalLineRow(entry_id="E-2", account="platform_fees", currency="USD", amount=7))
        assert await ledger_imbalance(db) == 12  # |−5| CNY + |7| USD
        assert await cached(db) == 0  # read again only after a minute
        now[0] += 60
        assert await cached(db) == 12
    finally:
        await db.dispose()
