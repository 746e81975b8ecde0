"""The reliable-messaging tables every service keeps in its own database.

- ``outbox_message``: events written in the same transaction as the state change; a relay publishes them.
- ``inbox_message``: ids of messages already processed, per consumer, written in the same transaction.
- ``idempotency_record``: commands' idempotency keys and the events their first handling emitted.
- ``parked_message``: commands waiting for another service's event, until it comes or their time runs out.
- ``relay_lease``: which relay instance may publish, so one service's events keep their order.
- ``clock_state``: the test clock's offset, so a restart keeps the time a test moved to.
- ``dead_letter``: what the service dead-lettered, kept so an operator can have it handled again.

Modelled on eventuate-tram's ``message`` and ``received_messages`` tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary
from sqlmodel import Field, SQLModel


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64)
    topic: str = Field(max_length=200)
    key: str | None = Field(default=None, max_length=200)
    type: str = Field(max_length=200)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: str = Field(default="{}", description="JSON object of Kafka headers.")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_message"
    __table_args__ = (Index("ix_inbox_received", "received_at"),)  # retention finds the oldest

    consumer: str = Field(primary_key=True, max_length=100)
    message_id: str = Field(primary_key=True, max_length=200)
    topic: str = Field(max_length=200)
    partition: int
    offset: int
    type: str | None = Field(default=None, max_length=200)
    outcome: str = Field(max_length=32, description="processed, rejected, repeated, parked or dead_lettered")
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class IdempotencyRecord(SQLModel, table=True):
    """A command's idempotency key and what its first handling emitted, per consumer."""

    __tablename__ = "idempotency_record"
    __table_args__ = (Index("ix_idempotency_created", "created_at"),)  # retention finds the oldest

    consumer: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=128)
    fingerprint: str = Field(max_length=64, description="SHA-256 of the command's type, actor and data")
    command_type: str = Field(max_length=200)
    event_ids: str = Field(description="JSON list of the event ids the first handling emitted")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ParkedMessage(SQLModel, table=True):
    """A command that waits for another service's event (``Waiting``): its bytes, until it is woken
    or its time runs out (a durable timer ``parked-message:<message_id>``)."""

    __tablename__ = "parked_message"

    message_id: str = Field(primary_key=True, max_length=64, description="The command's event id.")
    consumer: str = Field(max_length=100)
    waits_for: str = Field(max_length=200, index=True, description="e.g. order:O-1, merchant:M-1")
    topic: str = Field(max_length=200)
    partition: int
    offset: int
    key: str | None = Field(default=None, max_length=200)
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sealed: bool = Field(default=False, description="value is encrypted with the service's personal-data key")
    parked_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RelayLease(SQLModel, table=True):
    __tablename__ = "relay_lease"

    name: str = Field(primary_key=True, max_length=100)
    owner: str = Field(max_length=100)
    expires_at: float = Field(description="Unix time (real, not the test clock) the lease ends.")


class ClockState(SQLModel, table=True):
    __tablename__ = "clock_state"

    service: str = Field(primary_key=True, max_length=100)
    offset_seconds: int = 0


class DeadLetterRecord(SQLModel, table=True):
    """A message the service dead-lettered, whole (sealed when its topic carries personal data), so that
    ``control.deadletter.replay`` can have it handled again after a fix."""

    __tablename__ = "dead_letter"

    dead_letter_id: str = Field(primary_key=True, max_length=64, description="event_id of the deadletter.recorded message")
    consumer: str = Field(max_length=100)
    reason: str = Field(max_length=64)
    topic: str = Field(max_length=200)
    partition: int
    offset: int
    key: str | None = Field(default=None, max_length=200)
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sealed: bool = Field(default=False, description="value is encrypted with the service's personal-data key")
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    received_unix: float = Field(description="Real time it arrived (not the test clock): a replayed command's token is judged then.")
    replayed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


MESSAGING_TABLES: list[type[SQLModel]] = [OutboxMessage, InboxMessage, IdempotencyRecord, ParkedMessage, RelayLease, ClockState,
                                          DeadLetterRecord]
