"""The one consumer path every service uses.

For a batch of Kafka records, in ONE database transaction:
decode → deduplicate (inbox) → decide (the handler) → save + outbox + inbox;
then the subscriber commits the offsets. A crash before the commit redelivers the batch and
the inbox makes the redelivery harmless.

- Undecodable input (not JSON, unknown ``type``, newer ``version``, schema failure) and
  handler bugs go to the service's dead-letter topic with the reason.
- Event topics may grow new types: a consumer that does not know one ignores it.
- A business ``Rejected`` becomes a ``<service>.command.rejected`` event; the message is done.
- A command topic's messages prove their sender (``shared.authority``): a missing or bad token is
  refused ``unauthenticated``, an actor that may not send it ``forbidden``, before any handler runs.
- A command that ``Waiting``s for another service's event is parked (``parked_message``) and
  handled again when a handler ``wake``s what it waits for, or, at the latest, when its parking
  time runs out; then a command still waiting is rejected.
- A database error is transient: the whole batch is rolled back and raised, so the
  subscriber rewinds and the batch is retried after a pause.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.authority import Authority, UsedToken, token_row
from shared.clock import Clock
from shared.contracts.catalog import TopicContract, UnknownType, UnsupportedVersion
from shared.contracts.common import CommandRejected
from shared.db import Database, fetch_one, insert_rows, run_in, savepoint
from shared.envelope import Envelope
from shared.logs import correlation_id
from shared.messaging import DeadLetterRecord, IdempotencyRecord, InboxMessage, OutboxMessage
from shared.unit_of_work import Rejected, Undeliverable, UnitOfWork, Waiting, write_outbox
from shared.workspace import NeedsSession, Workspace
from shared import tracing
from shared.consumer_keeping import KeepingMessages
from shared.consumer_records import (
    _OUTBOX_COLUMNS,
    PARKED_TIMER,
    Handler,
    Record,
    Route,
    _Batch,
    _decode,
    _describe,
    _event_id,
    _fingerprint,
    _Item,
    _key,
    _seen_in,
    _type_header,
    open_dead_letter,
    parked_messages,
)

__all__ = ["PARKED_TIMER", "ConsumerStats", "Handler", "MessageConsumer", "Record", "Route", "open_dead_letter",
           "parked_messages"]

log = logging.getLogger("danbao.consumer")

@dataclass
class ConsumerStats:
    processed: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    retries: int = 0
    parked: int = 0
    woken: int = 0


@dataclass
class MessageConsumer(KeepingMessages):
    """Consumes a service's topics; a batch may mix them and is handled in one transaction."""

    service: str
    routes: dict[str, Route]
    db: Database
    clock: Clock
    events: TopicContract
    rejection: type[CommandRejected]
    dead_letters: TopicContract
    on_commit: Callable[[], None] = lambda: None
    # (topic, seconds from a record's timestamp to its batch's start), after the batch is committed
    on_delay: Callable[[str, float], None] | None = None
    after_batch: Callable[[int], None] = lambda processed: None  # after the commit, before the offsets are acked
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    retry_pause: float = 0.5
    # How long a command may wait for another service's event (``Waiting``); zero rejects it at once.
    park_for: timedelta = timedelta(0)
    authority: Authority | None = None  # checks the tokens of authenticated routes
    _failures: int = 0

    async def consume(self, records: Sequence[Record]) -> None:
        started = time.time()
        after_commit: list[Callable[[], None]] = []
        processed_before = self.stats.processed
        try:
            async with self.db.transaction() as session:
                batch = _Batch(ws=Workspace(session, batched=True))
                items = [self._read(record) for record in records]
                await self._load_seen(session, items, batch)
                await self._prefetch(items, batch)
                for item in items:
                    await self._one(session, item, batch, after_commit)
                if batch.woken:  # one query for all the batch woke
                    await self._wake(session, batch, after_commit)
                await self._write(session, batch)
        except DBAPIError:
            self._failures += 1
            self.stats.retries += 1
            pause = min(self.retry_pause * 2 ** (self._failures - 1), 10.0)
            log.exception("database error; batch of %d will be retried in %.1fs", len(records), pause)
            await asyncio.sleep(pause)
            raise
        self._failures = 0
        if self.on_delay is not None:
            for record in records:
                stamp = getattr(record, "timestamp", None)
                if stamp:  # milliseconds, set by the producer (or the broker)
                    self.on_delay(record.topic, max(started - stamp / 1000, 0.0))
        for callback in after_commit:
            callback()
        self.on_commit()
        self.after_batch(self.stats.processed - processed_before)

    @staticmethod
    async def _prefetch(items: list[_Item], batch: _Batch) -> None:
        """The rows the batch's handlers declared they read (``shared.workspace.prefetch``): one query per table."""
        wanted: dict[tuple[Any, str | None], set[Any]] = {}
        for item in items:
            envelope = item.envelope
            if envelope is None or item.ignored or item.problem is not None or item.refusal is not None:
                continue
            for model, key_of, *column in getattr(item.route.handlers.get(envelope.type), "prefetch", ()):
                key = key_of(envelope)
                if key is not None:
                    wanted.setdefault((model, column[0] if column else None), set()).add(key)
        for (model, column), keys in wanted.items():
            await batch.ws.load(model, list(keys), column=column)

    @staticmethod
    async def _write(session: AsyncSession, batch: _Batch) -> None:
        """What a batch leaves behind: its handlers' changes, events, inbox entries, used tokens, dead letters."""
        await batch.ws.write()
        await write_outbox(session, batch.outbox)
        await insert_rows(session, InboxMessage, batch.inbox)
        await insert_rows(session, UsedToken, batch.tokens)
        await insert_rows(session, DeadLetterRecord, batch.dead_letters)

    def _read(self, record: Record, at: float | None = None) -> _Item:
        """Decode, validate and authenticate one record (a token judged at ``at``, now by default);
        nothing touches the database yet."""
        route = self.routes[record.topic]
        # (topic, partition, offset) is unique in Kafka; the timestamp also tells apart the in-memory
        # test broker's records, which all sit at offset 0.
        position = f"{record.topic}/{record.partition}/{record.offset}@{getattr(record, 'timestamp', '')}"
        if route.ignore_unknown_types:
            declared = _type_header(record)
            if declared is not None and declared not in route.handlers:
                # Another service's event of a type this one does not act on, named by the header
                # every outbox sets: not even decoded.
                return _Item(record, route, None, position, ignored=True)
            if declared is not None and not route.authenticated:
                envelope = route.contract.parse_json(record.value, declared)
                if envelope is not None:  # an event this service acts on, validated straight from its bytes
                    item = _Item(record, route, str(envelope.event_id), position)
                    item.envelope = envelope
                    return item
        document, problem = _decode(record.value)
        item = _Item(record, route, _event_id(document), position)
        if problem is None and route.ignore_unknown_types and isinstance(document, dict) \
                and isinstance(document.get("type"), str) and document["type"] not in route.handlers:
            item.ignored = True  # another service's event this one does not act on: not even parsed
            return item
        if problem is None:
            try:
                item.envelope = route.contract.parse(document)
            except UnknownType as exc:
                if route.ignore_unknown_types and isinstance(document, dict) and isinstance(document.get("type"), str):
                    item.ignored = True
                else:
                    problem = ("unknown_type", str(exc))
            except UnsupportedVersion as exc:
                problem = ("unsupported_version", str(exc))
            except ValidationError as exc:
                problem = ("invalid_payload", _describe(exc, personal=route.sealed_by is not None))
        if item.envelope is not None and item.envelope.type not in route.handlers:
            item.ignored = True  # another service's event this one does not act on: nothing to remember
        item.problem = problem
        if problem is None and not item.ignored and route.authenticated and not item.event_id:
            item.refusal = Rejected("missing_event_id", "a command carries its own event_id (a UUID), the same on each retry, "
                                    "so that a retry is not taken for a new command", None)
        elif problem is None and not item.ignored and route.authenticated and self.authority is not None:
            verdict = self.authority.verify(document, at)
            if isinstance(verdict, Rejected):
                item.refusal = verdict
            else:
                item.claims = verdict
        return item

    async def _load_seen(self, session: AsyncSession, items: list[_Item], batch: _Batch) -> None:
        """One inbox query for the whole batch."""
        wanted: dict[str, set[str]] = {}
        for item in items:
            if not item.ignored:
                wanted.setdefault(item.route.inbox, set()).update(i for i in (item.event_id, item.position) if i)
        for inbox, ids in wanted.items():
            found = await run_in(session, "inbox-seen", _seen_in, sorted(ids), {"consumer": inbox}, fetch="all")
            batch.seen.update((inbox, row[0]) for row in found)
        claims = [item.claims for item in items if item.claims is not None]
        if claims and self.authority is not None:
            batch.used_tokens |= await self.authority.used(session, claims)

    async def _one(self, session: AsyncSession, item: _Item, batch: _Batch, after_commit: list[Callable[[], None]]) -> None:
        if item.ignored:
            return
        inbox = item.route.inbox
        if any((inbox, i) in batch.seen for i in (item.event_id, item.position) if i):
            self.stats.duplicates += 1
            log.info("duplicate %s ignored", item.event_id or item.position)
            return
        now = self.clock.now()
        envelope, problem, outcome = item.envelope, item.problem, "processed"
        if envelope is not None and problem is None:
            token = correlation_id.set(envelope.correlation_id)
            span = tracing.consuming(getattr(item.record, "headers", None), envelope.type, item.record.topic)
            span.__enter__()
            try:
                key = _key(item.record)
                refusal = await self._refusal(session, item, envelope, batch)
                if refusal is not None:
                    batch.outbox += self._reject(envelope, key, now, refusal)[1]
                    outcome = "rejected"
                else:
                    outcome, problem = await self._idempotent(session, item.route, envelope, key, now, batch, after_commit)
            finally:
                span.__exit__(None, None, None)
                correlation_id.reset(token)
            spent = item.claims is not None and (item.claims.issuer, item.claims.jti)
            if spent and spent not in batch.used_tokens and problem is None:  # spent, whatever the command's fate
                batch.used_tokens.add(spent)
                batch.tokens.append(token_row(item.claims, envelope.type))  # type: ignore[arg-type]
        if problem is not None:
            outcome = "dead_lettered"
            self._dead_letter(batch, item.route, item.record, now, *problem)
        if outcome == "parked":
            assert envelope is not None and batch.waiting is not None
            await self._park(session, item, envelope, batch.waiting, now, now + self.park_for)
        # Processed messages are remembered by event id, so a copy at any offset is dropped. Dead
        # letters are remembered by position only, so a fixed message replayed with its event id runs.
        message_id = item.event_id if item.event_id and outcome != "dead_lettered" else item.position
        batch.seen.add((inbox, message_id))
        record = item.record
        batch.inbox.append(dict(consumer=inbox, message_id=message_id, topic=record.topic, partition=record.partition,
                                offset=record.offset, type=envelope.type if envelope else None, outcome=outcome,
                                received_at=now))

    async def _refusal(self, session: AsyncSession, item: _Item, envelope: Envelope, batch: _Batch) -> Rejected | None:
        """Why an authenticated route's command may not run: its token, or its actor's rights."""
        if not item.route.authenticated or self.authority is None:
            return None
        if item.refusal is not None:
            return item.refusal
        assert item.claims is not None
        if (item.claims.issuer, item.claims.jti) in batch.used_tokens:
            return Rejected("unauthenticated", f"the token {item.claims.jti} was used before (a replay)")
        return await self.authority.admit(session, envelope, item.route.contract)

    async def _idempotent(
        self, session: AsyncSession, route: Route, envelope: Envelope, key: str | None, now: datetime,
        batch: _Batch, after_commit: list[Callable[[], None]], may_park: bool = True,
    ) -> tuple[str, tuple[str, str] | None]:
        """A command with an idempotency key acts once: a repeat (new event id, same key and
        content) publishes the first outcome again; the same key with other content is refused."""
        handler = route.handlers[envelope.type]
        idempotency_key = envelope.idempotency_key
        if not idempotency_key:
            outcome, problem, _ = await self._decide(session, handler, envelope, key, now, batch, after_commit, may_park)
            return outcome, problem
        fingerprint = _fingerprint(envelope)
        first = await fetch_one(session, IdempotencyRecord, consumer=route.inbox, key=idempotency_key)
        if first is not None and first.fingerprint == fingerprint:
            self.stats.duplicates += 1
            event_ids = set(json.loads(first.event_ids))
            stored = (await session.exec(select(OutboxMessage).where(
                col(OutboxMessage.event_id).in_(sorted(event_ids))).order_by(col(OutboxMessage.id)))).all()
            # The first row of each event: earlier repeats wrote copies, which must not be copied again.
            originals: dict[str, dict[str, Any]] = {}
            for row in [*({c: getattr(r, c) for c in _OUTBOX_COLUMNS} for r in stored), *batch.outbox]:
                if row["event_id"] in event_ids:
                    originals.setdefault(row["event_id"], row)
            # Same event ids: whoever saw them already drops the copies.
            batch.outbox += [{**row, "created_at": now} for row in originals.values()]
            return "repeated", None
        if first is not None:
            _, rows = self._reject(envelope, key, now, Rejected(
                "idempotency_key_reused", f"key {idempotency_key!r} was used for a different {first.command_type} command"))
            batch.outbox += rows
            return "rejected", None
        outcome, problem, emitted = await self._decide(session, handler, envelope, key, now, batch, after_commit, may_park)
        if problem is None and outcome != "parked":  # a parked command has no outcome yet
            await insert_rows(session, IdempotencyRecord, [dict(
                consumer=route.inbox, key=idempotency_key, fingerprint=fingerprint, command_type=envelope.type,
                created_at=now, event_ids=json.dumps([str(e.event_id) for e in emitted]))])
        return outcome, problem

    def _reject(self, envelope: Envelope, key: str | None, now: datetime, rejection: Rejected) -> tuple[Envelope, list[dict[str, Any]]]:
        """The rejection event, keyed like the command so it follows what came before on that key."""
        self.stats.rejected += 1
        log.info("rejected %s: %s", envelope.type, rejection)
        aggregate_id = rejection.aggregate_id or key
        uow = UnitOfWork(None, self.service, now, cause=envelope)  # type: ignore[arg-type]
        sent = uow.emit(self.events, aggregate_id, self.rejection(
            command_type=envelope.type, command_event_id=str(envelope.event_id),
            aggregate_id=aggregate_id, reason=rejection.reason, detail=rejection.detail,
        ))
        return sent, uow.outbox_rows

    async def _decide(
        self, session: AsyncSession, handler: Handler, envelope: Envelope, key: str | None, now: datetime,
        batch: _Batch, after_commit: list[Callable[[], None]], may_park: bool = True,
    ) -> tuple[str, tuple[str, str] | None, list[Envelope]]:
        ws = batch.ws
        uow = UnitOfWork(session, self.service, now, cause=envelope, ws=ws)
        try:
            if ws.batched:
                try:
                    await handler(uow, envelope)
                except NeedsSession:
                    # A handler that needs the session: the batch's changes so far are written, and it runs again
                    # alone, inside a savepoint, its workspace calls going straight to the database.
                    ws.drop()
                    await ws.write()
                    uow = UnitOfWork(session, self.service, now, cause=envelope, ws=ws)
                    ws.batched = False
                    try:
                        async with savepoint(session):
                            await handler(uow, envelope)
                    finally:
                        ws.batched = True
                        ws.forget()
            else:  # a replayed or expired command, handled in its caller's unit of work
                async with savepoint(session):
                    await handler(uow, envelope)
        except Waiting as waiting:
            ws.drop()
            session.expunge_all()
            if may_park and self.park_for > timedelta(0):
                batch.waiting = waiting
                return "parked", None, []
            sent, rows = self._reject(envelope, key, now, waiting.rejection)
            batch.outbox += rows
            return "rejected", None, [sent]
        except Rejected as rejection:
            ws.drop()
            session.expunge_all()
            sent, rows = self._reject(envelope, key, now, rejection)
            batch.outbox += rows
            return "rejected", None, [sent]
        except Undeliverable as undeliverable:
            ws.drop()
            session.expunge_all()
            return "dead_lettered", (undeliverable.reason, undeliverable.detail), []
        except DBAPIError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the partition; it is dead-lettered
            ws.drop()
            session.expunge_all()
            log.exception("handler for %s failed", envelope.type)
            return "dead_lettered", ("handler_error", f"{type(exc).__name__}: {exc}"), []
        ws.keep()
        self.stats.processed += 1
        batch.outbox += uow.outbox_rows
        batch.woken |= uow.woken
        after_commit.extend(uow.after_commit)
        return "processed", None, uow.emitted
