"""Store-test fixtures: by default a database (SQLite, and PostgreSQL when configured) holding the messaging
tables; a module that needs more tables defines its own ``db``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest

from services.payments.handlers import development_account
from services.payments.store import TABLES as PAYMENTS_TABLES, seed_merchants
from shared.db import Database
from shared.messaging import MESSAGING_TABLES
from shared.timers import DurableTimer


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables(MESSAGING_TABLES)
    yield database
    await database.dispose()


@pytest.fixture
async def payments_db(database_url: str) -> AsyncIterator[Database]:
    """Payments' tables beside the messaging tables, with merchant M-1001 seeded: for driving its consumer path."""
    database = Database(database_url)
    await database.create_tables([*MESSAGING_TABLES, DurableTimer, *PAYMENTS_TABLES])
    async with database.transaction() as session:
        await seed_merchants(session, {"M-1001": "retail"}, datetime.now(timezone.utc), development_account)
    yield database
    await database.dispose()
