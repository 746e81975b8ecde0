"""The risk figures in buckets: any window reads exactly what one row per counted thing would have given (to the
second), on SQLite and PostgreSQL, and the observations of a database from before are carried into buckets."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.payments.risk_store import RiskTally, observe, tally
from shared.db import Database, run
from shared.migrations.runner import upgrade
from tests.release import schema_of
from shared.workspace import Workspace

BASE = datetime(2026, 12, 31, 23, 58, 30, tzinfo=timezone.utc)  # a minute, hour, day and year boundary ahead
_keys = itertools.count()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables([RiskTally])
    yield database
    await database.dispose()


def _exact(times: list[tuple[datetime, int]], since: datetime) -> tuple[int, int]:
    """One row per counted thing, as before the buckets, windows starting at the whole second."""
    start = int(since.timestamp())
    inside = [amount for at, amount in times if int(at.timestamp()) >= start]
    return len(inside), sum(inside)


offsets = st.integers(min_value=-3 * 86400, max_value=3 * 86400)  # seconds around BASE: three days either side


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(things=st.lists(st.tuples(offsets, st.integers(min_value=0, max_value=10_000), st.integers(0, 999_999)),
                       min_size=1, max_size=60),
       windows=st.lists(offsets, min_size=1, max_size=12))
async def test_any_window_reads_what_one_row_per_counted_thing_gives(
        db: Database, things: list[tuple[int, int, int]], windows: list[int]) -> None:
    key = f"pay:merchant:M-{next(_keys)}-{uuid.uuid4().hex[:6]}"
    times = [(BASE + timedelta(seconds=offset, microseconds=micro), amount) for offset, amount, micro in things]
    async with db.transaction() as session:
        for at, amount in times:
            await observe(Workspace(session), at, key, amount=amount)
    async with db.transaction() as session:
        for offset in [*windows, min(o for o, _, _ in things), max(o for o, _, _ in things)]:
            since = BASE + timedelta(seconds=offset, microseconds=500_000)
            assert await tally(Workspace(session), key, since) == _exact(times, since), since


async def test_a_busy_key_reads_a_bounded_number_of_buckets(db: Database) -> None:
    """A thousand payments in ten minutes to one merchant: its buckets, not its payments, are what a window reads."""
    key = "pay:merchant:M-BUSY"
    async with db.transaction() as session:
        for n in range(1000):
            await observe(Workspace(session), BASE + timedelta(milliseconds=600 * n), key, amount=100)
    rows = await bucket_rows(db)
    assert rows == {"s": 600, "m": 11, "h": 2, "d": 2}  # 600 seconds, across a minute, hour and day boundary
    async with db.transaction() as session:
        assert await tally(Workspace(session), key, BASE) == (1000, 100_000)
        assert await tally(Workspace(session), key, BASE + timedelta(seconds=300)) == (500, 50_000)


async def bucket_rows(db: Database) -> dict[str, int]:
    table = RiskTally.__table__  # type: ignore[attr-defined]
    async with db.transaction() as session:
        found = await run(session, sa.select(table.c.grain, sa.func.count()).group_by(table.c.grain), fetch="all")
    return {grain: count for grain, count in found}


async def test_an_upgrade_carries_the_observations_into_buckets(database_url: str) -> None:
    """Revision 0003: a database at 0002 keeps its risk observations as risk_tally buckets, so no window starts empty."""
    database = Database(database_url)
    try:
        observations = [dict(key="paid:merchant:M-1", at=BASE + timedelta(seconds=97 * n), amount=10 * n) for n in range(50)]
        observations += [dict(key="pay:buyer:B-1", at=BASE - timedelta(days=2), amount=0)]
        table = sa.table("risk_observation", sa.column("key"), sa.column("at", sa.DateTime(timezone=True)), sa.column("amount"))

        def at_0002_with_observations_then_upgraded(sync: sa.Connection) -> list[str]:
            upgrade(sync, schema_of("payments"), destination="0002")
            sync.execute(sa.insert(table), observations)
            upgrade(sync, schema_of("payments"))
            return sa.inspect(sync).get_table_names()

        async with database.connection(begin=True) as connection:
            names = await connection.run_sync(at_0002_with_observations_then_upgraded)
        assert "risk_observation" not in names and "risk_tally" in names
        async with database.transaction() as session:
            paid = [(o["at"], o["amount"]) for o in observations if o["key"] == "paid:merchant:M-1"]
            for since in (BASE - timedelta(days=30), BASE + timedelta(seconds=1000), BASE + timedelta(hours=1, seconds=7)):
                assert await tally(Workspace(session), "paid:merchant:M-1", since) == _exact(paid, since)
            assert await tally(Workspace(session), "pay:buyer:B-1", BASE - timedelta(days=3)) == (1, 0)
    finally:
        await database.dispose()
