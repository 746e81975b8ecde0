"""The notifications service's tables. Addresses, webhook secrets and message bodies are stored
encrypted (``*_enc``), with a masked copy for showing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint, bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.domain import OPEN, Reach
from shared.contracts.notifications import Channel, Language, PartyKind
from shared.workspace import Workspace
from shared.db import upsert_row
from shared.pii_store import EncryptedColumns


def _when(nullable: bool = True) -> object:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Contact(SQLModel, table=True):
    __tablename__ = "notification_contact"

    party: str = Field(primary_key=True, max_length=16)
    party_id: str = Field(primary_key=True, max_length=64)
    phone_enc: str | None = None
    email_enc: str | None = None
    push_token_enc: str | None = None
    phone_masked: str | None = Field(default=None, max_length=32)
    email_masked: str | None = Field(default=None, max_length=200)
    push_masked: str | None = Field(default=None, max_length=32)
    language: str = Field(default=Language.ZH_CN.value, max_length=8)
    muted_channels: str = Field(default="[]", description="JSON list of channels muted for optional updates")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    @staticmethod
    def context(party: str, party_id: str, name: str) -> str:
        return f"contact:{party}:{party_id}:{name}"

    def muted(self) -> list[Channel]:
        return [Channel(c) for c in json.loads(self.muted_channels)]


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "notification_webhook"

    merchant_id: str = Field(primary_key=True, max_length=64)
    url: str = Field(max_length=500)
    secret_enc: str
    secret_id: str = Field(max_length=12)
    previous_secret_enc: str | None = None
    previous_secret_id: str | None = Field(default=None, max_length=12)
    previous_secret_until: datetime | None = _when()  # type: ignore[assignment]
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    @staticmethod
    def context(merchant_id: str) -> str:
        return f"webhook:{merchant_id}:secret"


class OrderParties(SQLModel, table=True):
    """Who an order concerns, for events that name only the order (shipment, refusal)."""

    __tablename__ = "notification_order_parties"

    order_id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(max_length=64)
    buyer_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Notification(SQLModel, table=True):
    """One message to one recipient on one channel, caused by one event."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("source_event_id", "recipient", "recipient_id", "channel", name="uq_notification_event_recipient_channel"),
        Index("ix_notification_due", "state", "next_attempt_at"),
    )

    notification_id: str = Field(primary_key=True, max_length=40)
    source_event_id: str = Field(max_length=64)
    source_type: str = Field(max_length=100)
    correlation_id: str = Field(max_length=200)
    recipient: str = Field(max_length=16)
    recipient_id: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=16, description="sms, push, email, webhook, or none when skipped")
    template: str = Field(max_length=100)
    language: str = Field(max_length=8)
    category: str = Field(max_length=16)
    state: str = Field(max_length=16)
    content_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    to_masked: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    first_attempt_at: datetime | None = _when()  # type: ignore[assignment]
    next_attempt_at: datetime | None = _when()  # type: ignore[assignment]
    claimed_until: datetime | None = _when()  # type: ignore[assignment]
    sent_at: datetime | None = _when()  # type: ignore[assignment]
    failure_reason: str | None = Field(default=None, max_length=32)
    last_detail: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    @staticmethod
    def context(notification_id: str) -> str:
        return f"notification:{notification_id}:content"


class DeliveryAttempt(SQLModel, table=True):
    """The delivery log: every attempt, with what the channel said (no personal data)."""

    __tablename__ = "notification_attempt"

    id: int | None = Field(default=None, primary_key=True)
    notification_id: str = Field(max_length=40, index=True)
    attempt: int
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    outcome: str = Field(max_length=16, description="sent, retrying or failed")
    status_code: int | None = None
    detail: str = Field(max_length=300)
    duration_ms: int


async def load_contact(session: AsyncSession, party: PartyKind, party_id: str) -> Contact | None:
    return await session.get(Contact, (party.value, party_id))


async def load_webhook(session: AsyncSession, merchant_id: str) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, merchant_id)


async def reach_of(ws: Workspace, parties: Iterable[tuple[PartyKind, str]]) -> dict[tuple[PartyKind, str], Reach]:
    """How each party can be reached: its contact, and for merchants a webhook."""
    found: dict[tuple[PartyKind, str], Reach] = {}
    for party, party_id in set(parties):
        contact = await ws.get(Contact, party.value, party_id)
        webhook = await ws.get(WebhookEndpoint, party_id) if party is PartyKind.MERCHANT else None
        if contact is None and webhook is None:
            continue
        found[(party, party_id)] = Reach(
            phone=bool(contact and contact.phone_enc), email=bool(contact and contact.email_enc),
            push=bool(contact and contact.push_token_enc), webhook=webhook is not None,
            language=Language(contact.language) if contact else Language.ZH_CN,
            muted=frozenset(Channel(c) for c in json.loads(contact.muted_channels)) if contact else frozenset())
    return found


async def order_parties(ws: Workspace, order_id: str | None) -> tuple[str, str] | None:
    row = await ws.get(OrderParties, order_id) if order_id else None
    return (row.merchant_id, row.buyer_id) if row else None


async def remember_parties(ws: Workspace, order_id: str, merchant_id: str, buyer_id: str, now: datetime) -> None:
    """Who the order concerns; the first record stays."""
    await ws.put(OrderParties, dict(order_id=order_id, merchant_id=merchant_id, buyer_id=buyer_id, created_at=now),
                 insert_only=("merchant_id", "buyer_id", "created_at"))




async def existing(ws: Workspace, source_event_id: str) -> set[str]:
    """The notifications already recorded for an event (found through the event's unique key)."""
    return {row.notification_id for row in await ws.find(Notification, "source_event_id", source_event_id)}


async def record(ws: Workspace, rows: list[dict[str, object]]) -> None:
    """New notifications (``new_notification`` rows)."""
    await ws.insert(Notification, rows, by=("source_event_id",))  # type: ignore[arg-type]


def new_notification(**values: object) -> dict[str, object]:
    """A notification row as the insert takes it: every column, defaults filled in (no ORM object)."""
    return {**_NEW_DEFAULTS, **values}


_NEW_DEFAULTS: dict[str, object] = dict(content_enc=None, to_masked=None, attempts=0, first_attempt_at=None,
                                        next_attempt_at=None, claimed_until=None, sent_at=None,
                                        failure_reason=None, last_detail=None)


def save_contact(session: AsyncSession, row: Contact | None, values: dict[str, object], now: datetime) -> Contact:
    return upsert_row(session, row, Contact, {**values, "updated_at": now}, now)  # type: ignore[return-value]


def save_webhook(session: AsyncSession, row: WebhookEndpoint | None, values: dict[str, object], now: datetime) -> WebhookEndpoint:
    return upsert_row(session, row, WebhookEndpoint, {**values, "updated_at": now}, now)  # type: ignore[return-value]


async def claim_due(session: AsyncSession, now: datetime, until: datetime, limit: int) -> list[Notification]:
    """Open notifications due by ``now`` that no worker holds; held by the caller until ``until``."""
    rows = list((await session.exec(
        select(Notification).where(
            col(Notification.state).in_([s.value for s in OPEN]), col(Notification.next_attempt_at) <= now,
            col(Notification.claimed_until).is_(None) | (col(Notification.claimed_until) <= now))
        .order_by(col(Notification.next_attempt_at)).limit(limit).with_for_update(skip_locked=True)
    )).all())
    for row in rows:
        row.claimed_until = until
        session.add(row)
    return rows


async def open_count(session: AsyncSession) -> int:
    return int((await session.exec(
        select(func.count()).select_from(Notification).where(col(Notification.state).in_([s.value for s in OPEN])))).one())


async def log_rows(session: AsyncSession, *, recipient_id: str | None = None, state: str | None = None,
                   channel: str | None = None, source_event_id: str | None = None, limit: int = 100) -> list[Notification]:
    """Newest first, for ``danbao notifications log``."""
    query = select(Notification)
    for column, value in ((Notification.recipient_id, recipient_id), (Notification.state, state),
                          (Notification.channel, channel), (Notification.source_event_id, source_event_id)):
        if value:
            query = query.where(col(column) == value)
    return list((await session.exec(query.order_by(col(Notification.created_at).desc(), col(Notification.notification_id)).limit(limit))).all())


async def attempts_of(session: AsyncSession, notification_ids: list[str]) -> list[DeliveryAttempt]:
    if not notification_ids:
        return []
    return list((await session.exec(select(DeliveryAttempt).where(col(DeliveryAttempt.notification_id).in_(notification_ids))
                                    .order_by(col(DeliveryAttempt.notification_id), col(DeliveryAttempt.attempt)))).all())


TABLES: list[type[SQLModel]] = [Contact, WebhookEndpoint, OrderParties, Notification, DeliveryAttempt]

# For `danbao pii status|reencrypt --service notifications` after a key rotation.
ENCRYPTED_COLUMNS = [
    EncryptedColumns(Contact, ("phone_enc", "email_enc", "push_token_enc"),
                     context=lambda row, column: Contact.context(row["party"], row["party_id"], column.removesuffix("_enc"))),
    EncryptedColumns(WebhookEndpoint, ("secret_enc", "previous_secret_enc"),
                     context=lambda row, column: WebhookEndpoint.context(row["merchant_id"])),
    EncryptedColumns(Notification, ("content_enc",), context=lambda row, column: Notification.context(row["notification_id"])),
]
