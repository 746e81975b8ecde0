"""The database wrapper under concurrency: health probes and gauges never stall the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest

from shared.db import Database, insert_rows
from shared.messaging import MESSAGING_TABLES, InboxMessage

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables(MESSAGING_TABLES)
    yield database
    await database.dispose()


async def _write(db: Database, n: int) -> None:
    async with db.transaction() as session:
        await insert_rows(session, InboxMessage, [dict(
            consumer="test", message_id=f"m-{n}", topic="t", partition=0, offset=n, type=None,
            outcome="processed", received_at=T0)])


async def test_health_probes_interleaved_with_writes_never_block_the_loop(db: Database) -> None:
    """A probe that held SQLite's write lock while its connection closed (which yields to the
    loop) made the next writer wait synchronously on the lock: the whole process froze until
    the busy timeout, then the write failed with "database is locked"."""
    started = time.monotonic()
    for n in range(20):
        results = await asyncio.gather(db.ping(), _write(db, n), db.ping(), _write(db, 100 + n))
        assert results[0] is True and results[2] is True
    assert time.monotonic() - started < 10  # a single stall lasts the whole busy timeout (30 s)
