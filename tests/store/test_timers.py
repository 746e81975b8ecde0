"""Durable timers on SQLite and PostgreSQL: due ones fire once, on the injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from shared import timers
from shared.clock import FixedClock
from shared.db import Database
from shared.messaging import MESSAGING_TABLES
from shared.timers import DurableTimer, TimerScheduler
from shared.unit_of_work import Rejected, UnitOfWork

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables([*MESSAGING_TABLES, DurableTimer])
    yield database
    await database.dispose()


async def test_due_timers_fire_once_in_order_and_cancelled_ones_never(db: Database) -> None:
    async with db.transaction() as session:
        uow = UnitOfWork(session, "escrow", T0, correlation_id="flow-1")
        await timers.schedule(uow, "auto-confirm", "O-2", T0 + timedelta(days=2))
        await timers.schedule(uow, "auto-confirm", "O-1", T0 + timedelta(days=1))
        await timers.schedule(uow, "auto-confirm", "O-3", T0 + timedelta(days=1))
        await timers.cancel(uow, "auto-confirm", "O-3")
    fired: list[tuple[str, str]] = []

    async def handler(uow: UnitOfWork, timer: DurableTimer) -> None:
        fired.append((timer.aggregate_id, uow.correlation_id))

    clock = FixedClock(T0)
    scheduler = TimerScheduler(db, clock, "escrow", {"auto-confirm": handler})
    assert await scheduler.fire_due() == 0
    clock.advance(3 * 86400)
    assert await scheduler.fire_due() == 2
    assert await scheduler.fire_due() == 0
    assert fired == [("O-1", "flow-1"), ("O-2", "flow-1")]


async def test_a_failing_timer_is_retried_later_and_a_rejected_one_is_done(db: Database) -> None:
    async with db.transaction() as session:
        uow = UnitOfWork(session, "escrow", T0)
        await timers.schedule(uow, "broken", "O-1", T0)
        await timers.schedule(uow, "moot", "O-2", T0)

    async def broken(uow: UnitOfWork, timer: DurableTimer) -> None:
        raise RuntimeError("bug")

    async def moot(uow: UnitOfWork, timer: DurableTimer) -> None:
        raise Rejected("nothing_to_confirm", "already released")

    clock = FixedClock(T0)
    scheduler = TimerScheduler(db, clock, "escrow", {"broken": broken, "moot": moot})
    assert await scheduler.fire_due() == 2
    async with db.transaction() as session:
        rows = {t.kind: t for t in (await session.exec(select(DurableTimer))).all()}
    assert rows["moot"].fired_at is not None
    assert rows["broken"].fired_at is None and timers.as_utc(rows["broken"].due_at) == T0 + timedelta(minutes=1)


async def test_a_handler_may_set_its_own_timer_again_for_later(db: Database) -> None:
    async with db.transaction() as session:
        await timers.schedule(UnitOfWork(session, "onboarding", T0), "registry-wait", "M-1", T0)
    calls: list[datetime] = []

    async def retry(uow: UnitOfWork, timer: DurableTimer) -> None:
        calls.append(uow.now)
        if len(calls) < 3:
            await timers.schedule(uow, "registry-wait", "M-1", uow.now + timedelta(seconds=30))

    clock = FixedClock(T0)
    scheduler = TimerScheduler(db, clock, "onboarding", {"registry-wait": retry})
    for _ in range(5):
        await scheduler.fire_due()
        clock.advance(31)
    assert len(calls) == 3
