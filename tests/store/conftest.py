"""Store-test fixtures: by default a database (SQLite, and PostgreSQL when configured) holding the messaging
tables; a module that needs more tables defines its own ``db``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.db import Database
from shared.messaging import MESSAGING_TABLES


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables(MESSAGING_TABLES)
    yield database
    await database.dispose()
