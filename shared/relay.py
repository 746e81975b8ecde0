"""The outbox relay: publishes committed outbox rows in order, a batch at a time, pipelined.

No database transaction is open while publishing: rows are read, handed to the producer, and
marked published in a second short transaction once the broker has acknowledged every one of
them. While the broker acknowledges one batch the relay already reads and hands over the next
(at most ``depth`` batches in flight); batches are marked in the order they were sent, and the
producer keeps the order of what it was handed per partition, so per key the order is the
outbox's (while sends succeed: after a failed one, as before pipelining, a copy of an earlier
event can follow a later one, which consumers' inboxes and state checks absorb). A failed send, a database error or a lost lease stops the pipeline: what is in flight
is let finish, nothing after the failure is marked, and the relay reads again from the oldest
unmarked row, so those rows are published again and consumers' inboxes drop the copies. A
crash likewise republishes what was not marked. One relay per service holds a lease at a time
(in the service's database, so across processes and hosts: each process is its own owner), so a
service's events keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import time
from collections import deque
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
        poll_seconds: float = 0.25, lease_seconds: float = 10.0, owner: str | None = None, depth: int = 3,
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
        self.depth = depth  # batches handed to the producer and not yet acknowledged, at most
        self.published = 0
        self._wake = asyncio.Event()
        self._held_until = 0.0
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        in_flight: deque[_Sent] = deque()
        more = True  # rows may be waiting: at start, after a wake-up or the poll, after a full batch
        while not self._stopping:
            try:
                while in_flight and in_flight[0].acked.done():  # acknowledged: marked, oldest first
                    await self._mark_sent(in_flight.popleft())
                if more and len(in_flight) < self.depth:
                    self._wake.clear()  # a commit from now on wakes the relay again
                    if await self._hold_lease():
                        more = await self._hand_over(in_flight) == self.batch_size
                        continue
                    await _settle(in_flight)  # another process publishes now; what was sent stays unmarked
                more = await self._wait(in_flight) or more
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - broker or database down: keep trying, from the oldest unmarked row
                log.exception("outbox relay failed; retrying")
                await _settle(in_flight)
                await asyncio.sleep(1.0)
                more = True
        await _settle(in_flight)

    async def _wait(self, in_flight: deque[_Sent]) -> bool:
        """Until the oldest batch in flight is acknowledged, a commit wakes the relay, or the poll comes round;
        returns whether rows may be waiting to be read."""
        woken = asyncio.ensure_future(self._wake.wait())
        waits: set[asyncio.Future[Any]] = {woken, *([in_flight[0].acked] if in_flight else [])}
        try:
            done, _ = await asyncio.wait(waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        return self._wake.is_set() or not done  # woken, or the poll

    async def _hand_over(self, in_flight: deque[_Sent]) -> int:
        """The next unmarked rows not already in flight, handed to the producer as one batch."""
        sending = {row_id for sent in in_flight for row_id in sent.ids}
        async with self.db.core() as session:
            rows = await run(session, _PENDING, {"limit": self.batch_size + len(sending)}, fetch="all")
        rows = [row for row in rows if row.id not in sending][:self.batch_size]
        if not rows:
            return 0
        pending = [await self.publish(row) for row in rows]
        acked = asyncio.ensure_future(asyncio.gather(*(p for p in pending if asyncio.isfuture(p) or asyncio.iscoroutine(p))))
        in_flight.append(_Sent([row.id for row in rows], acked))
        return len(rows)

    async def _mark_sent(self, sent: _Sent) -> None:
        await sent.acked  # a failed send raises here: nothing from it on is marked
        async with self.db.core() as session:
            await run_in(session, "outbox-mark", _mark, sent.ids, {"now": datetime.now(timezone.utc)})
        self.published += len(sent.ids)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish up to one batch and mark it once acknowledged; returns how many rows were published."""
        if not await self._hold_lease():
            return 0
        in_flight: deque[_Sent] = deque()
        handed = await self._hand_over(in_flight)
        if handed:
            await self._mark_sent(in_flight.popleft())
        return handed

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


class _Sent:
    """One batch handed to the producer: its rows' ids and the acknowledgement of all of them."""

    __slots__ = ("acked", "ids")

    def __init__(self, ids: list[Any], acked: asyncio.Future[Any]) -> None:
        self.ids = ids
        self.acked = acked


async def _settle(in_flight: deque[_Sent]) -> None:
    """Let what is in flight finish, marking none of it: the relay reads again from the oldest unmarked row."""
    while in_flight:
        await asyncio.gather(in_flight.popleft().acked, return_exceptions=True)


async def outbox_backlog(db: Database) -> float:
    """Rows committed but not yet published."""
    async with db.core() as session:
        return float((await run(session, _BACKLOG, fetch="first"))[0])
