"""Counters and balances move in one atomic statement: concurrent writers (two replicas) never lose an update."""

from __future__ import annotations

import asyncio

from services.payments.store import MerchantMonthVolume, add_month_volume, month_volume
from shared.db import Database
from shared.workspace import Workspace


async def test_concurrent_additions_to_a_merchant_s_monthly_volume_all_count(database_url: str) -> None:
    """The lost update of the measured bug: payments of 10,000 and 20,000 fen settled at once left 20,000."""
    database = Database(database_url)
    try:
        await database.create_tables([MerchantMonthVolume])
        started = asyncio.Event()

        async def settle(amount: int) -> None:
            async with database.transaction() as session:
                await started.wait()  # both transactions are open before either writes
                await add_month_volume(Workspace(session), "M-1", "2026-12", amount)

        tasks = [asyncio.create_task(settle(amount)) for amount in (10_000, 20_000, 5)]
        await asyncio.sleep(0.05)
        started.set()
        await asyncio.gather(*tasks)
        async with database.transaction() as session:
            assert await month_volume(Workspace(session), "M-1", "2026-12") == 30_005
    finally:
        await database.dispose()
