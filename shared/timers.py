"""Durable timers: kept in the owning service's database, fired by a scheduler loop on the
service's clock (so a test clock moved forward fires them).

Firing a timer is a unit of work like handling a message: the timer is marked fired, the
state changes and the outbox rows commit together, so a crash fires it again or not at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Column, DateTime, Index, bindparam, select, update
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.clock import Clock
from shared.db import Database, run, savepoint
from shared.unit_of_work import Rejected, UnitOfWork, write_outbox
from shared.workspace import locked

log = logging.getLogger("danbao.timers")


@locked
class DurableTimer(SQLModel, table=True):
    __tablename__ = "durable_timer"
    __table_args__ = (Index("ix_timer_due", "fired_at", "due_at"),)

    timer_id: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=64)
    aggregate_id: str = Field(max_length=100, index=True)
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    fired_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    cancelled: bool = False
    data: str = Field(default="{}", description="JSON the handler needs")


def as_utc(value: datetime) -> datetime:
    """Databases without time zones (SQLite) hand back naive UTC datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


async def schedule(uow: UnitOfWork, kind: str, aggregate_id: str, due_at: datetime, data: dict[str, Any] | None = None) -> str:
    """Set (or move) the ``kind`` timer of an aggregate; what it causes keeps the flow's correlation id."""
    timer_id = f"{kind}:{aggregate_id}"
    await uow.ws.put(DurableTimer, dict(
        timer_id=timer_id, kind=kind, aggregate_id=aggregate_id, due_at=due_at, fired_at=None, cancelled=False,
        data=json.dumps({**(data or {}), "correlation_id": uow.correlation_id})), insert_only=())
    return timer_id


_TIMERS = DurableTimer.__table__  # type: ignore[attr-defined]
_CANCEL = update(_TIMERS).where(_TIMERS.c.timer_id == bindparam("id"), _TIMERS.c.fired_at.is_(None)).values(cancelled=True)
_SET = update(_TIMERS).where(_TIMERS.c.timer_id == bindparam("id"))
_DUE = (select(_TIMERS).where(_TIMERS.c.fired_at.is_(None), _TIMERS.c.cancelled.is_(False), _TIMERS.c.due_at <= bindparam("now"))
        .order_by(_TIMERS.c.due_at).limit(bindparam("limit")).with_for_update(skip_locked=True))


async def cancel(uow: UnitOfWork, kind: str, aggregate_id: str) -> None:
    """The timer will not fire (unless it has already)."""
    timer_id = f"{kind}:{aggregate_id}"
    if not uow.ws.batched:
        await run(uow.ws.session, _CANCEL, {"id": timer_id})  # type: ignore[arg-type]
        return
    timer = await uow.ws.get(DurableTimer, timer_id)  # locked: the scheduler skips it, or has fired it
    if timer is not None and timer.fired_at is None and not timer.cancelled:
        await uow.ws.put(DurableTimer, {**timer._mapping, "cancelled": True}, insert_only=())


def timer_key(kind: str) -> Callable[[str | None], str | None]:
    """A ``prefetch`` key: the ``kind`` timer of an aggregate."""
    return lambda aggregate_id: None if aggregate_id is None else f"{kind}:{aggregate_id}"


TimerHandler = Callable[[UnitOfWork, DurableTimer], Awaitable[None]]


@dataclass
class TimerScheduler:
    db: Database
    clock: Clock
    service: str
    handlers: dict[str, TimerHandler]
    on_commit: Callable[[], None] = lambda: None
    poll_seconds: float = 0.5
    batch_size: int = 200
    fired: int = 0
    _stopping: bool = False

    async def run(self) -> None:
        while not self._stopping:
            try:
                count = await self.fire_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be down: try again
                log.exception("timer scheduler failed; retrying")
                count = 0
            if count < self.batch_size:
                await asyncio.sleep(self.poll_seconds)

    def stop(self) -> None:
        self._stopping = True

    async def fire_due(self) -> int:
        """Fire every timer due by the service's clock; returns how many fired."""
        now = self.clock.now()
        after_commit: list[Callable[[], None]] = []
        async with self.db.transaction() as session:
            timers = await run(session, _DUE, {"now": now, "limit": self.batch_size}, fetch="all")
            rows: list[dict[str, Any]] = []
            for timer in timers:
                rows += await self._fire(session, timer, now, after_commit)
            await write_outbox(session, rows)
        if timers:
            self.fired += len(timers)
            for callback in after_commit:
                callback()
            self.on_commit()
        return len(timers)

    async def _fire(self, session: AsyncSession, timer: Any, now: datetime,
                    after_commit: list[Callable[[], None]]) -> list[dict[str, Any]]:
        """Mark the timer fired, then run its handler; a handler that sets the same timer again
        (``schedule``) leaves it pending for the new time."""
        handler = self.handlers.get(timer.kind)
        uow = UnitOfWork(session, self.service, now, correlation_id=json.loads(timer.data).get("correlation_id"))
        await run(session, _SET, {"id": timer.timer_id, "fired_at": now})
        try:
            async with savepoint(session):
                if handler is None:
                    raise LookupError(f"no handler for timer kind {timer.kind}")
                await handler(uow, timer)
        except Rejected as rejection:
            log.info("timer %s found nothing to do: %s", timer.timer_id, rejection)
            session.expunge_all()
            uow.outbox_rows = []
        except Exception:  # noqa: BLE001 - one broken timer must not block the others
            log.exception("timer %s failed; retrying in a minute", timer.timer_id)
            session.expunge_all()
            await run(session, _SET, {"id": timer.timer_id, "fired_at": None, "due_at": now + timedelta(minutes=1)})
            return []
        after_commit += uow.after_commit
        return uow.outbox_rows
