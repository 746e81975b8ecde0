"""Retention removes what the guarantees no longer need, in bounded batches, and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, MetaData, Table, inspect, select

from shared.clock import TestableClock
from shared.db import Database, insert_rows, run
from shared.authority import AUTHORITY_TABLES, UsedToken
from shared.messaging import MESSAGING_TABLES, IdempotencyRecord, InboxMessage, OutboxMessage
from shared.retention import Retention

NOW = datetime.now(timezone.utc)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables([*MESSAGING_TABLES, *AUTHORITY_TABLES])
    yield database
    await database.dispose()


def _outbox(n: int, published: datetime | None, created: datetime) -> dict:
    return dict(event_id=f"e-{n}", topic="t", key="k", type="x", payload=b"{}", headers="{}", created_at=created, published_at=published)


def _inbox(n: int, received: datetime) -> dict:
    return dict(consumer="c", message_id=f"m-{n}", topic="t", partition=0, offset=n, type=None, outcome="processed", received_at=received)


def _token(n: int, expires: datetime) -> dict:
    return dict(issuer="buyer-app", jti=f"jti-{n}", command_type="payments.order.pay", expires_at=expires)


def _key(n: int, created: datetime) -> dict:
    return dict(consumer="c", key=f"k-{n}", fingerprint="f", command_type="x", event_ids="[]", created_at=created)


async def _ids(db: Database, column: object) -> set[str]:
    async with db.transaction() as session:
        return {row[0] for row in await run(session, select(column), fetch="all")}


async def test_old_rows_go_in_bounded_batches_and_everything_still_needed_stays(db: Database) -> None:
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=1)
    async with db.transaction() as session:
        await insert_rows(session, OutboxMessage, [_outbox(n, old, old) for n in range(5)]  # published long ago: go
                          + [_outbox(10, None, old)]  # never published: stays, however old
                          + [_outbox(11, recent, recent)])
        await insert_rows(session, InboxMessage, [_inbox(n, NOW - timedelta(days=15)) for n in range(7)] + [_inbox(20, recent)])
        await insert_rows(session, IdempotencyRecord, [_key(n, old) for n in range(3)] + [_key(30, NOW - timedelta(days=29))])
        await insert_rows(session, UsedToken, [_token(n, NOW - timedelta(hours=2)) for n in range(3)]  # expired: go
                          + [_token(40, NOW - timedelta(minutes=5)), _token(41, NOW + timedelta(minutes=5))])  # could come back

    retention = Retention(db, TestableClock(allowed=True), inbox=timedelta(days=14), idempotency=timedelta(days=30), batch_size=2)
    removed = await retention.prune_once()

    assert removed == {"outbox_message": 5, "inbox_message": 7, "idempotency_record": 3, "used_token": 3}
    assert await _ids(db, UsedToken.__table__.c.jti) == {"jti-40", "jti-41"}  # type: ignore[attr-defined]
    assert await _ids(db, OutboxMessage.__table__.c.event_id) == {"e-10", "e-11"}  # type: ignore[attr-defined]
    assert await _ids(db, InboxMessage.__table__.c.message_id) == {"m-20"}  # type: ignore[attr-defined]
    assert await _ids(db, IdempotencyRecord.__table__.c.key) == {"k-30"}  # type: ignore[attr-defined]
    assert await retention.prune_once() == {"outbox_message": 0, "inbox_message": 0, "idempotency_record": 0, "used_token": 0}


async def test_the_service_clock_decides_what_is_old(db: Database) -> None:
    async with db.transaction() as session:
        await insert_rows(session, InboxMessage, [_inbox(1, NOW - timedelta(days=1))])
    clock = TestableClock(allowed=True)
    retention = Retention(db, clock, inbox=timedelta(days=14))
    assert (await retention.prune_once())["inbox_message"] == 0
    clock.advance(14 * 86400)
    assert (await retention.prune_once())["inbox_message"] == 1


async def test_a_used_token_is_kept_by_real_time_whatever_the_test_clock_says(db: Database) -> None:
    """Tokens are issued in real time: a test clock moved ten days must not forget a token that can still be replayed."""
    async with db.transaction() as session:
        await insert_rows(session, UsedToken, [_token(1, datetime.now(timezone.utc) + timedelta(minutes=5))])
    clock = TestableClock(allowed=True)
    clock.advance(10 * 86400)
    assert (await Retention(db, clock).prune_once())["used_token"] == 0


async def test_an_index_added_to_a_model_reaches_a_table_created_before_it(database_url: str) -> None:
    """Databases made before retention have no index on ``received_at``: starting the service adds it."""
    database = Database(database_url)
    try:
        old = Table("inbox_message", MetaData(), *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                                   for c in InboxMessage.__table__.columns))  # type: ignore[attr-defined]
        async with database.transaction() as session:
            await session.run_sync(lambda sync: old.create(sync.connection()))
        await database.create_tables([InboxMessage])
        async with database.transaction() as session:
            names = await session.run_sync(lambda sync: {i["name"] for i in inspect(sync.connection()).get_indexes("inbox_message")})
        assert "ix_inbox_received" in names
    finally:
        await database.dispose()


