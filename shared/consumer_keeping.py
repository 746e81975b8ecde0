"""The consumer path's keeping of messages it cannot finish now: parked commands (waiting for another service's
event) and dead letters (kept whole, replayable by an operator's command)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.common import DeadLetter
from shared.db import insert_rows, run, run_in
from shared.envelope import Envelope
from shared.logs import correlation_id
from shared import timers
from shared.timers import as_utc
from shared.messaging import DeadLetterRecord, ParkedMessage
from shared.unit_of_work import Rejected, UnitOfWork, Waiting
from shared.consumer_records import (
    _PARKED,
    _SETTLE_INBOX,
    _UNPARK,
    MAX_ORIGINAL_BYTES,
    PARKED_TIMER,
    Record,
    Route,
    _Batch,
    _Item,
    _key,
    _kept_context,
    _parked_context,
    _parked_for,
    _Stored,
    sealed_context,
)


log = logging.getLogger("danbao.consumer")


class KeepingMessages:
    """Parking and dead letters, mixed into ``MessageConsumer`` (which gives ``self`` its routes, clock and batch work)."""

    # -- parked commands ----------------------------------------------------------------------

    async def _park(self, session: AsyncSession, item: _Item, envelope: Envelope, waiting: Waiting,
                    now: datetime, until: datetime) -> None:
        """Keep the command's bytes until what it waits for happens, and a timer for its last chance."""
        self.stats.parked += 1
        record, route = item.record, item.route
        value, sealed = record.value or b"", route.sealed_by is not None
        if route.sealed_by is not None:
            value = route.sealed_by.encrypt(base64.b64encode(value).decode(), _parked_context(record.topic)).encode()
        log.info("parked %s %s: it waits for %s", envelope.type, envelope.event_id, waiting.waits_for)
        await insert_rows(session, ParkedMessage, [dict(
            message_id=str(envelope.event_id), consumer=route.inbox, waits_for=waiting.waits_for, topic=record.topic,
            partition=record.partition, offset=record.offset, key=_key(record), value=value, sealed=sealed,
            parked_at=now, until=until)])
        await timers.schedule(UnitOfWork(session, self.service, now, cause=envelope), PARKED_TIMER,
                              str(envelope.event_id), until)

    async def _wake(self, session: AsyncSession, batch: _Batch, after_commit: list[Callable[[], None]]) -> None:
        """Handle again, in this transaction, every command parked for what the batch's handlers woke."""
        for _ in range(10):  # a woken command may wake others; the chain is short
            woken, batch.woken = sorted(batch.woken), set()
            if not woken:
                return
            rows = await run_in(session, "parked-for", _parked_for, woken, fetch="all")
            for row in rows:
                if not await run(session, _UNPARK, {"id": row.message_id}):
                    continue  # another instance woke it first
                await timers.cancel(UnitOfWork(session, self.service, self.clock.now()), PARKED_TIMER, row.message_id)
                self.stats.woken += 1
                await self._again(session, row, batch, after_commit, final=False)

    async def expire(self, uow: UnitOfWork, timer: Any) -> None:
        """The parking time of a command ran out (a ``parked-message`` timer): handle it one last time;
        if it still waits, it is rejected."""
        row = await run(uow.session, _PARKED, {"id": timer.aggregate_id}, fetch="first")
        if row is None or not await run(uow.session, _UNPARK, {"id": row.message_id}):
            return  # woken already
        batch, after_commit = _Batch(ws=uow.ws), []  # type: ignore[var-annotated]
        await self._again(uow.session, row, batch, after_commit, final=True)
        uow.outbox_rows += batch.outbox
        await insert_rows(uow.session, DeadLetterRecord, batch.dead_letters)
        uow.after_commit += after_commit

    async def _again(self, session: AsyncSession, row: Any, batch: _Batch, after_commit: list[Callable[[], None]],
                     final: bool) -> None:
        route = self.routes[row.topic]
        value = bytes(row.value)
        if row.sealed:
            assert route.sealed_by is not None, "a sealed parked command needs the service's personal-data keys"
            value = base64.b64decode(route.sealed_by.decrypt(value.decode(), _parked_context(row.topic)))
        envelope = route.contract.parse(json.loads(value))
        token = correlation_id.set(envelope.correlation_id)
        try:
            outcome, problem = await self._idempotent(session, route, envelope, row.key, self.clock.now(), batch,
                                                      after_commit, may_park=not final)
        finally:
            correlation_id.reset(token)
        if problem is not None:  # a handler bug this time: the command goes to the dead letters
            outcome = "dead_lettered"
            self._dead_letter(batch, route, _Stored(row.topic, row.partition, row.offset, row.key, value),
                              self.clock.now(), *problem)
        if outcome != "parked":  # the inbox tells what became of it (its row may not be written yet)
            await run(session, _SETTLE_INBOX, {"inbox": row.consumer, "id": row.message_id, "settled": outcome})
            for entry in batch.inbox:
                if (entry["consumer"], entry["message_id"]) == (row.consumer, row.message_id):
                    entry["outcome"] = outcome
        else:  # woken, yet still waiting (for something else): parked again, same deadline
            assert batch.waiting is not None
            stored = _Stored(row.topic, row.partition, row.offset, row.key, value)
            await self._park(session, _Item(stored, route, str(envelope.event_id), ""), envelope, batch.waiting,
                             as_utc(row.parked_at), as_utc(row.until))

    def _dead_letter(self, batch: _Batch, route: Route, record: Record, now: datetime, reason: str, detail: str) -> None:
        """The dead letter's event, and the whole original kept for a replay."""
        self.stats.dead_lettered += 1
        log.warning("dead letter from %s/%d@%d: %s: %s", record.topic, record.partition, record.offset, reason, detail[:300])
        value = whole = record.value or b""
        if len(value) > MAX_ORIGINAL_BYTES:
            detail = f"{detail[:3000]} (the original's first {MAX_ORIGINAL_BYTES} of {len(value)} bytes are kept)"
            value = value[:MAX_ORIGINAL_BYTES]
        if route.sealed_by is not None:
            original, encoding = route.sealed_by.encrypt(base64.b64encode(value).decode(), sealed_context(record.topic)), "sealed"
            if reason == "handler_error":
                detail = detail.split(":", 1)[0] + " (detail in the service's log: the topic carries personal data)"
        else:
            try:
                original, encoding = value.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                original, encoding = base64.b64encode(value).decode(), "base64"
        key = _key(record)
        uow = UnitOfWork(None, self.service, now)  # type: ignore[arg-type]
        sent = uow.emit(self.dead_letters, key, DeadLetter(
            reason=reason, detail=detail[:4000], consumer=route.inbox, source_topic=record.topic,
            source_partition=record.partition, source_offset=record.offset, source_key=key,
            original=original, original_encoding=encoding,
        ))
        batch.outbox += uow.outbox_rows
        kept = whole if route.sealed_by is None else route.sealed_by.encrypt(
            base64.b64encode(whole).decode(), _kept_context(str(sent.event_id))).encode()
        batch.dead_letters.append(dict(
            dead_letter_id=str(sent.event_id), consumer=route.inbox, reason=reason[:64], topic=record.topic,
            partition=record.partition, offset=record.offset, key=key, value=kept, sealed=route.sealed_by is not None,
            received_at=now, received_unix=getattr(record, "received_unix", None) or time.time(), replayed_at=None))

    async def replay(self, uow: UnitOfWork, dead_letter_id: str) -> str:
        """Handle a kept dead letter again, in this unit of work; returns what became of it. A command's
        token is judged at the time it first arrived (its ``jti`` must still be unused)."""
        row = await uow.session.get(DeadLetterRecord, dead_letter_id)
        if row is None:
            raise Rejected("dead_letter_not_found", f"{self.service} keeps no dead letter {dead_letter_id}")
        if row.replayed_at is not None:
            raise Rejected("already_replayed", f"dead letter {dead_letter_id} was replayed already")
        route = self.routes.get(row.topic)
        if route is None:
            raise Rejected("dead_letter_not_found", f"{self.service} no longer reads {row.topic}")
        value = bytes(row.value)
        if row.sealed:
            assert route.sealed_by is not None, "a sealed dead letter needs the service's personal-data keys"
            value = base64.b64decode(route.sealed_by.decrypt(value.decode(), _kept_context(dead_letter_id)))
        row.replayed_at = uow.now
        uow.session.add(row)
        batch, after_commit = _Batch(ws=uow.ws), []  # type: ignore[var-annotated]
        item = self._read(_Stored(row.topic, row.partition, row.offset, row.key, value, row.received_unix), at=row.received_unix)
        item.position = f"replay:{dead_letter_id}"  # the original's position is remembered as dead-lettered
        await self._load_seen(uow.session, [item], batch)
        await self._one(uow.session, item, batch, after_commit)
        if batch.woken:
            await self._wake(uow.session, batch, after_commit)
        uow.outbox_rows += batch.outbox
        batch.outbox = []
        await self._write(uow.session, batch)
        uow.after_commit += after_commit
        return batch.inbox[0]["outcome"] if batch.inbox else "duplicate"
