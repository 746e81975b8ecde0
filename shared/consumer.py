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
import base64
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import bindparam
from sqlalchemy import delete as sa_delete
from sqlalchemy import func as sa_func
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.assertions import Claims
from shared.authority import Authority, UsedToken, token_row
from shared.clock import Clock
from shared.contracts.catalog import TopicContract, UnknownType, UnsupportedVersion
from shared.contracts.common import CommandRejected, DeadLetter
from shared.db import Database, fetch_one, insert_rows, run, run_in, savepoint
from shared.envelope import Envelope
from shared.logs import correlation_id
from shared.pii import FieldCipher
from shared import timers
from shared.timers import as_utc
from shared.messaging import DeadLetterRecord, IdempotencyRecord, InboxMessage, OutboxMessage, ParkedMessage
from shared.unit_of_work import Rejected, Undeliverable, UnitOfWork, Waiting, write_outbox
from shared import tracing

log = logging.getLogger("danbao.consumer")

Handler = Callable[[UnitOfWork, Envelope], Awaitable[None]]


class Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


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
class Route:
    """One topic a service consumes: its contract, a handler per message type, and its inbox name."""

    contract: TopicContract
    handlers: dict[str, Handler]
    inbox: str
    ignore_unknown_types: bool = False  # True for other services' event topics, which grow additively
    sealed_by: FieldCipher | None = None  # the topic carries personal data: dead letters keep it encrypted
    authenticated: bool = False  # a command topic: every message needs a token from a trusted issuer


@dataclass
class MessageConsumer:
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
                batch = _Batch()
                items = [self._read(record) for record in records]
                await self._load_seen(session, items, batch)
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
    async def _write(session: AsyncSession, batch: _Batch) -> None:
        """What a batch leaves behind: events, inbox entries, used tokens, dead letters."""
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
        uow = UnitOfWork(session, self.service, now, cause=envelope)
        try:
            async with savepoint(session):
                await handler(uow, envelope)
        except Waiting as waiting:
            session.expunge_all()
            if may_park and self.park_for > timedelta(0):
                batch.waiting = waiting
                return "parked", None, []
            sent, rows = self._reject(envelope, key, now, waiting.rejection)
            batch.outbox += rows
            return "rejected", None, [sent]
        except Rejected as rejection:
            session.expunge_all()
            sent, rows = self._reject(envelope, key, now, rejection)
            batch.outbox += rows
            return "rejected", None, [sent]
        except Undeliverable as undeliverable:
            session.expunge_all()
            return "dead_lettered", (undeliverable.reason, undeliverable.detail), []
        except DBAPIError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the partition; it is dead-lettered
            session.expunge_all()
            log.exception("handler for %s failed", envelope.type)
            return "dead_lettered", ("handler_error", f"{type(exc).__name__}: {exc}"), []
        self.stats.processed += 1
        batch.outbox += uow.outbox_rows
        batch.woken |= uow.woken
        after_commit.extend(uow.after_commit)
        return "processed", None, uow.emitted

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
        batch, after_commit = _Batch(), []  # type: ignore[var-annotated]
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
        batch, after_commit = _Batch(), []  # type: ignore[var-annotated]
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


_INBOX = InboxMessage.__table__  # type: ignore[attr-defined]
_PARKED_TABLE = ParkedMessage.__table__  # type: ignore[attr-defined]
PARKED_TIMER = "parked-message"
_PARKED = sa_select(_PARKED_TABLE).where(_PARKED_TABLE.c.message_id == bindparam("id"))
_UNPARK = sa_delete(_PARKED_TABLE).where(_PARKED_TABLE.c.message_id == bindparam("id"))
_SETTLE_INBOX = (sa_update(_INBOX).where(_INBOX.c.consumer == bindparam("inbox"), _INBOX.c.message_id == bindparam("id"))
                 .values(outcome=bindparam("settled")))


def _parked_for(waits_for: list[Any]) -> Any:
    return sa_select(_PARKED_TABLE).where(_PARKED_TABLE.c.waits_for.in_(waits_for)).order_by(_PARKED_TABLE.c.parked_at)


_PARKED_COUNT = sa_select(sa_func.count()).select_from(_PARKED_TABLE)


async def parked_messages(db: Database) -> float:
    """Commands waiting for another service's event."""
    async with db.core() as session:
        return float((await run(session, _PARKED_COUNT, fetch="first"))[0])


def _parked_context(topic: str) -> str:
    return f"parked:{topic}"


def _kept_context(dead_letter_id: str) -> str:
    return f"dead-letter:{dead_letter_id}"


@dataclass
class _Stored:
    """A parked command's record, as far as it is kept."""

    topic: str
    partition: int
    offset: int
    key_text: str | None
    value: bytes
    received_unix: float | None = None  # a replayed dead letter's first arrival

    @property
    def key(self) -> bytes | None:
        return self.key_text.encode() if self.key_text is not None else None


def _seen_in(ids: list[Any]) -> Any:
    return sa_select(_INBOX.c.message_id).where(_INBOX.c.consumer == bindparam("consumer"), _INBOX.c.message_id.in_(ids))


def sealed_context(topic: str) -> str:
    """What a sealed dead letter's original is bound to: the topic it came from."""
    return f"deadletter:{topic}"


def open_dead_letter(data: dict[str, Any], cipher: FieldCipher | None = None) -> bytes:
    """The original bytes of a dead letter's ``data`` (a sealed one needs the service's cipher)."""
    if data["original_encoding"] == "sealed":
        if cipher is None:
            raise ValueError("this dead letter is sealed: it needs the service's personal-data keys")
        return base64.b64decode(cipher.decrypt(data["original"], sealed_context(data["source_topic"])))
    if data["original_encoding"] == "base64":
        return base64.b64decode(data["original"])
    return str(data["original"]).encode()


_OUTBOX_COLUMNS = ("event_id", "topic", "key", "type", "payload", "headers", "created_at")
# A dead letter is one Kafka message (1 MiB by default) whatever the original's size and encoding
# (escaped text up to 6 bytes a byte, base64, sealed): of a bigger original it keeps the beginning.
MAX_ORIGINAL_BYTES = 128 * 1024


def _key(record: Record) -> str | None:
    """The record's key as the key of what answers it: an outbox key has at most 200 characters."""
    return record.key.decode("utf-8", "replace")[:200] if record.key else None


@dataclass
class _Item:
    record: Record
    route: Route
    event_id: str | None
    position: str
    envelope: Envelope | None = None
    problem: tuple[str, str] | None = None
    ignored: bool = False
    claims: Claims | None = None  # an authenticated route's good token
    refusal: Rejected | None = None  # or why its token is no good


@dataclass
class _Batch:
    """What one batch writes at its end, and the message ids it has seen."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    woken: set[str] = field(default_factory=set)  # what parked commands wait for, woken by handlers
    waiting: Waiting | None = None  # why the last command was parked
    used_tokens: set[tuple[str, str]] = field(default_factory=set)  # (issuer, jti) used before or in this batch
    tokens: list[dict[str, Any]] = field(default_factory=list)  # used_token rows to write
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # dead_letter rows to write


def _type_header(record: Record) -> str | None:
    """The ``type`` header, when the record has a readable one."""
    for name, value in getattr(record, "headers", None) or ():
        if name == "type":
            try:
                return value.decode() if isinstance(value, bytes) else str(value)
            except UnicodeDecodeError:
                return None
    return None


def _decode(value: bytes | None) -> tuple[Any, tuple[str, str] | None]:
    if not value:
        return None, ("malformed_json", "empty message")
    try:
        return json.loads(value), None
    except ValueError as exc:  # not UTF-8, not JSON, or a number of more digits than Python converts
        return None, ("malformed_json", str(exc))
    except RecursionError:
        return None, ("malformed_json", "nested too deeply")


def _event_id(document: Any) -> str | None:
    """The envelope's ``event_id``, when the message has a well-formed one."""
    if isinstance(document, dict) and isinstance(document.get("event_id"), str):
        try:
            return str(uuid.UUID(document["event_id"]))
        except ValueError:
            return None
    return None


def _fingerprint(envelope: Envelope) -> str:
    """What makes two commands the same: type, actor and data (not ids or timestamps)."""
    body = json.dumps({"type": envelope.type, "actor": envelope.actor.model_dump(mode="json"),
                       "data": envelope.data.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _describe(exc: ValidationError, personal: bool = False) -> str:
    if personal:  # pydantic's messages may quote the input: say only where, and which kind of error
        return "; ".join(f"{'.'.join(_plain_part(p) for p in err['loc']) or '(message)'}: {err['type']}"
                         for err in exc.errors()[:20])
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(message)'}: {err['msg']}" for err in exc.errors()[:20]
    )


def _plain_part(part: Any) -> str:
    """A location part as it is if it is an index or a field-like name; another key (which could be anything) as ``*``."""
    return str(part) if isinstance(part, int) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,40}", str(part)) else "*"
