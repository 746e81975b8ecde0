"""The outbox relay: publishes committed outbox rows in order, a batch at a time.

No database transaction is open while publishing: rows are read, published (every send
awaited together), then marked published in a second short transaction. A crash in between
republishes the batch; consumers' inboxes drop the duplicates. One relay per service holds a
lease at a time (in the service's database, so across processes and hosts: each process is its own owner), so
a service's events keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from shared.db import Database, run, run_in
from shared.messaging import OutboxMessage, RelayLease

log = logging.getLogger("danbao.relay")

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
# Rows come back as plain tuples with attribute access (id, event_id, topic, key, type, payload, headers).
_PENDING = (select(_OUTBOX.c.id, _OUTBOX.c.event_id, _OUTBOX.c.topic, _OUTBOX.c.key, _OUTBOX.c.type,
                   _OUTBOX.c.payload, _OUTBOX.c.headers)
            .where(_OUTBOX.c.published_at.is_(None)).order_by(_OUTBOX.c.id).limit(bindparam("limit")))
_BACKLOG = select(func.count()).select_from(_OUTBOX).where(_OUTBOX.c.published_at.is_(None))


def _mark(ids: list[Any]) -> Any:
    return update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(published_at=bindparam("now"))

Publish = Callable[[OutboxMessage], Awaitable[Any]]


class OutboxRelay:
    def __init__(
        self, db: Database, publish: Publish, *, name: str, batch_size: int = 500,
        poll_seconds: float = 0.25, lease_seconds: float = 10.0, owner: str | None = None,
    ) -> None:
        self.db = db
        self.publish = publish
        self.name = name
        # Each process is its own owner, even beside another replica on the same host; a restarted one waits at
        # most ``lease_seconds`` for its predecessor's lease to lapse.
        self.owner = owner or f"{name}@{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.published = 0
        self._wake = asyncio.Event()
        self._held_until = 0.0
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - broker or database down: keep trying
                log.exception("outbox relay failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            if sent < self.batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
                self._wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish up to one batch; returns how many rows were published."""
        if not await self._hold_lease():
            return 0
        async with self.db.core() as session:
            rows = await run(session, _PENDING, {"limit": self.batch_size}, fetch="all")
        if not rows:
            return 0
        pending = [await self.publish(row) for row in rows]
        await asyncio.gather(*(p for p in pending if asyncio.isfuture(p) or asyncio.iscoroutine(p)))
        async with self.db.core() as session:
            await run_in(session, "outbox-mark", _mark, [r.id for r in rows], {"now": datetime.now(timezone.utc)})
        self.published += len(rows)
        return len(rows)

    async def _hold_lease(self) -> bool:
        now = time.time()
        if now < self._held_until - self.lease_seconds / 2:
            return True  # renewed recently: no write needed yet
        expires = now + self.lease_seconds
        try:
            async with self.db.transaction() as session:
                result = await session.exec(  # type: ignore[call-overload]
                    update(RelayLease)
                    .where(col(RelayLease.name) == self.name)
                    .where((col(RelayLease.owner) == self.owner) | (col(RelayLease.expires_at) < now))
                    .values(owner=self.owner, expires_at=expires)
                )
                if result.rowcount == 1 or await session.get(RelayLease, self.name) is None:
                    if result.rowcount != 1:
                        session.add(RelayLease(name=self.name, owner=self.owner, expires_at=expires))
                    self._held_until = expires
                    return True
                self._held_until = 0.0
                return False
        except IntegrityError:
            self._held_until = 0.0
            return False


async def outbox_backlog(db: Database) -> float:
    """Rows committed but not yet published."""
    async with db.core() as session:
        return float((await run(session, _BACKLOG, fetch="first"))[0])
