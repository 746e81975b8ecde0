"""A unit of work: one transaction holding a state change and the messages it causes."""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from collections.abc import Callable
from typing import Any
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.catalog import TopicContract
from shared.envelope import Actor, Envelope, Payload
from shared.db import insert_rows
from shared.messaging import OutboxMessage
from shared import tracing
from shared.workspace import NeedsSession, Workspace


class Rejected(Exception):
    """A business rejection: illegal transition, wrong actor or invalid field. Nothing changes."""

    def __init__(self, reason: str, detail: str, aggregate_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.aggregate_id = aggregate_id


class Waiting(Exception):
    """The command needs something another service announces by an event this service has not read
    yet (an order's hold, a merchant's activation). The consumer parks it until a handler calls
    ``uow.wake(waits_for)`` or the parking time runs out, then handles it again; a command still
    waiting then is rejected with ``reason``. Nothing changes while it waits."""

    def __init__(self, waits_for: str, reason: str, detail: str, aggregate_id: str | None = None) -> None:
        super().__init__(f"waits for {waits_for}: {reason}: {detail}")
        self.waits_for = waits_for
        self.rejection = Rejected(reason, detail, aggregate_id)


class Undeliverable(Exception):
    """The message can never be processed (e.g. a forged signature): it goes to the dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class UnitOfWork:
    """What a handler sees: its rows (``ws``, see ``shared.workspace``), the time, and ``emit`` to queue an event in
    the outbox. In a batched run the session itself is not at hand: asking for it has the consumer run the handler
    again in direct mode, where it is."""

    def __init__(self, session: AsyncSession, service: str, now: datetime, cause: Envelope | None = None,
                 correlation_id: str | None = None, ws: Workspace | None = None) -> None:
        self._session = session
        self.ws = ws if ws is not None else Workspace(session)
        self.service = service
        self.now = now
        self.cause = cause
        self.correlation_id = cause.correlation_id if cause else correlation_id or str(uuid.uuid4())
        self.emitted: list[Envelope] = []
        self.outbox_rows: list[dict[str, Any]] = []
        self.after_commit: list[Callable[[], None]] = []
        self.woken: set[str] = set()
        self._trace: dict[str, str] | None = None

    @property
    def session(self) -> AsyncSession:
        if self.ws.batched:
            raise NeedsSession()
        return self._session

    def wake(self, waits_for: str) -> None:
        """What a parked command waits for has happened: it is handled again in this transaction."""
        self.woken.add(waits_for)

    def emit(self, contract: TopicContract, key: str | None, payload: Payload, *, actor: Actor | None = None) -> Envelope:
        type_name = payload.TYPE  # type: ignore[attr-defined]
        if contract.payloads.get(type_name) is not type(payload):
            raise TypeError(f"{type_name} is not a message of {contract.topic}")
        # Every field is the platform's own or comes from a validated message (the cause): built as they are.
        envelope = Envelope.model_construct(
            event_id=uuid.uuid4(),
            type=type_name,
            version=payload.VERSION,
            occurred_at=self.now,
            producer=self.service,
            correlation_id=self.correlation_id,
            causation_id=str(self.cause.event_id) if self.cause else None,
            actor=actor or _system(self.service),
            idempotency_key=None,
            token=None,
            data=payload,
        )
        if self._trace is None:  # the handler's trace context: the same for everything it emits
            self._trace = tracing.inject({})
        self.outbox_rows.append(dict(
            event_id=str(envelope.event_id),
            topic=contract.topic,
            key=key,
            type=type_name,
            payload=envelope.to_json(),
            headers=json.dumps({"content-type": "application/json", "type": type_name, **self._trace}) if self._trace
            else _plain_headers(type_name),
            created_at=self.now,
        ))
        self.emitted.append(envelope)
        return envelope

    async def write_outbox(self) -> None:
        """Insert the queued outbox rows in one statement (call once, at the end of the transaction)."""
        await write_outbox(self._session, self.outbox_rows)
        self.outbox_rows = []


@lru_cache(maxsize=None)
def _system(service: str) -> Actor:
    return Actor.system(service)


@lru_cache(maxsize=None)
def _plain_headers(type_name: str) -> str:
    """An event's headers when no trace goes along."""
    return json.dumps({"content-type": "application/json", "type": type_name})


async def write_outbox(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await insert_rows(session, OutboxMessage, rows)
