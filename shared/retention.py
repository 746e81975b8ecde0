"""Retention: the messaging tables keep what the guarantees need, not everything forever.

- ``inbox_message``: a processed message's id is needed only while a copy of it can still
  arrive: a redelivery (within Kafka's retention, 7 days by default) or a replay. Kept
  ``DANBAO_INBOX_RETENTION_DAYS`` (default 14).
- ``idempotency_record`` and *published* ``outbox_message`` rows: a repeated command within the
  idempotency horizon is answered by publishing its first outcome again, read from the outbox.
  Both are kept ``DANBAO_IDEMPOTENCY_RETENTION_DAYS`` (default 30); after that a repeated key
  is a new command (the domain's own state rules still refuse a second payment, shipment or
  refund of the same thing). Unpublished outbox rows are never removed.
- ``used_token``: a token's ``jti`` is needed only until the token has expired (real time, not the
  test clock: tokens are issued in real time); kept an hour past its expiry.

Rows go in bounded batches, one short transaction each, so pruning never holds the database
for long; the service's clock decides what is old (the test clock moves it in tests).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_

from shared.clock import Clock
from shared.authority import UsedToken
from shared.db import Database, run
from shared.messaging import IdempotencyRecord, InboxMessage, OutboxMessage

log = logging.getLogger("danbao.retention")

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_INBOX = InboxMessage.__table__  # type: ignore[attr-defined]
_IDEMPOTENCY = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_USED_TOKEN = UsedToken.__table__  # type: ignore[attr-defined]


def _oldest(table: Any, key: list[Any], when: Any) -> Any:
    """Delete up to ``limit`` rows older than ``cutoff`` (by ``when``), found through its index."""
    chosen = select(*key).where(when < bindparam("cutoff")).order_by(when).limit(bindparam("limit"))
    return delete(table).where(tuple_(*key).in_(chosen) if len(key) > 1 else key[0].in_(chosen))


_PRUNE = {
    "outbox_message": _oldest(_OUTBOX, [_OUTBOX.c.id], _OUTBOX.c.published_at),  # NULL (unpublished) is never < cutoff
    "inbox_message": _oldest(_INBOX, [_INBOX.c.consumer, _INBOX.c.message_id], _INBOX.c.received_at),
    "idempotency_record": _oldest(_IDEMPOTENCY, [_IDEMPOTENCY.c.consumer, _IDEMPOTENCY.c.key], _IDEMPOTENCY.c.created_at),
    "used_token": _oldest(_USED_TOKEN, [_USED_TOKEN.c.issuer, _USED_TOKEN.c.jti], _USED_TOKEN.c.expires_at),
}
USED_TOKEN_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Horizon:
    """A service's own table pruned like the messaging tables: rows whose ``when`` column is older than ``keep``
    (by the service's clock), found by ``key``."""

    table: Any
    key: tuple[str, ...]
    when: str
    keep: timedelta

    def statement(self) -> Any:
        return _oldest(self.table, [self.table.c[name] for name in self.key], self.table.c[self.when])


@dataclass
class Retention:
    db: Database
    clock: Clock
    inbox: timedelta = timedelta(days=14)
    idempotency: timedelta = timedelta(days=30)
    batch_size: int = 5000
    interval_seconds: float = 3600.0
    horizons: tuple[Horizon, ...] = ()  # the service's own tables
    _stopping: bool = False

    async def prune_once(self) -> dict[str, int]:
        """Remove every row past its horizon; returns how many went, per table."""
        now = self.clock.now()
        cutoffs = {"outbox_message": now - self.idempotency, "inbox_message": now - self.inbox,
                   "idempotency_record": now - self.idempotency,
                   "used_token": datetime.now(timezone.utc) - USED_TOKEN_GRACE}
        statements = dict(_PRUNE)
        for horizon in self.horizons:
            statements[horizon.table.name] = horizon.statement()
            cutoffs[horizon.table.name] = now - horizon.keep
        removed = {}
        for table, cutoff in cutoffs.items():
            removed[table] = 0
            while True:
                async with self.db.core() as tx:
                    count = await run(tx, statements[table], {"cutoff": cutoff, "limit": self.batch_size})
                removed[table] += count
                if count < self.batch_size:
                    break
                await asyncio.sleep(0)  # let the consumers in between batches
        if any(removed.values()):
            log.info("retention removed %s", ", ".join(f"{n} from {t}" for t, n in removed.items()))
        return removed

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be down: try again next time
                log.exception("retention failed; trying again later")
            await asyncio.sleep(self.interval_seconds)

    def stop(self) -> None:
        self._stopping = True
