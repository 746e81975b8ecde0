"""The escrow service's tables: holds and the journal."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, func
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.escrow.domain import Hold, HoldStatus, JournalEntry
from shared.db import upsert_row
from shared.timers import as_utc


class HoldRow(SQLModel, table=True):
    __tablename__ = "escrow_hold"

    hold_id: str = Field(primary_key=True, max_length=80)
    order_id: str = Field(unique=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(index=True, max_length=64)
    captured: int
    released: int = 0
    refunded: int = 0
    currency: str = Field(max_length=3)
    fee: int
    auto_confirm_days: int
    status: str = Field(max_length=32, index=True)
    fee_charged: int = 0
    carrier: str | None = Field(default=None, max_length=64)
    tracking_no: str | None = Field(default=None, max_length=64)
    auto_confirm_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))

    def to_domain(self) -> Hold:
        return Hold(
            hold_id=self.hold_id, order_id=self.order_id, merchant_id=self.merchant_id, buyer_id=self.buyer_id,
            captured=self.captured, currency=self.currency, fee=self.fee, auto_confirm_days=self.auto_confirm_days,
            status=HoldStatus(self.status), released=self.released, refunded=self.refunded, fee_charged=self.fee_charged,
            carrier=self.carrier, tracking_no=self.tracking_no,
            auto_confirm_at=as_utc(self.auto_confirm_at) if self.auto_confirm_at else None,
        )


class JournalEntryRow(SQLModel, table=True):
    __tablename__ = "journal_entry"

    entry_id: str = Field(primary_key=True, max_length=40)
    reference: str = Field(unique=True, max_length=160, description="The business act booked, once: capture:<order>, refund:<refund id>, ...")
    kind: str = Field(max_length=40)
    order_id: str | None = Field(default=None, max_length=64, index=True)
    currency: str = Field(max_length=3)
    posted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class JournalLineRow(SQLModel, table=True):
    __tablename__ = "journal_line"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(foreign_key="journal_entry.entry_id", index=True, max_length=40)
    account: str = Field(index=True, max_length=120)
    currency: str = Field(max_length=3)
    amount: int


async def booked(session: AsyncSession, reference: str) -> bool:
    """Whether the business act ``reference`` is already in the journal (each is booked once)."""
    found = await session.exec(select(JournalEntryRow.entry_id).where(JournalEntryRow.reference == reference))
    return found.first() is not None


def post(session: AsyncSession, journal: JournalEntry, reference: str, now: datetime) -> str:
    entry_id = f"JE-{uuid.uuid4().hex[:20]}"
    session.add(JournalEntryRow(entry_id=entry_id, reference=reference, kind=journal.kind, order_id=journal.order_id,
                                currency=journal.currency, posted_at=now))
    for line in journal.lines:
        session.add(JournalLineRow(entry_id=entry_id, account=line.account, currency=journal.currency, amount=line.amount))
    return entry_id


def save_hold(session: AsyncSession, row: HoldRow | None, hold: Hold, now: datetime) -> None:
    values = dict(
        hold_id=hold.hold_id, order_id=hold.order_id, merchant_id=hold.merchant_id, buyer_id=hold.buyer_id,
        captured=hold.captured, released=hold.released, refunded=hold.refunded, currency=hold.currency,
        fee=hold.fee, auto_confirm_days=hold.auto_confirm_days, status=hold.status.value, fee_charged=hold.fee_charged,
        carrier=hold.carrier, tracking_no=hold.tracking_no, auto_confirm_at=hold.auto_confirm_at, updated_at=now,
    )
    upsert_row(session, row, HoldRow, values, now)


async def load_hold(session: AsyncSession, order_id: str) -> tuple[HoldRow | None, Hold | None]:
    """The order's hold row, locked for this transaction, and its domain value."""
    row = (await session.exec(select(HoldRow).where(HoldRow.order_id == order_id).with_for_update())).first()
    return row, row.to_domain() if row else None


async def balance(session: AsyncSession, account: str, currency: str) -> int:
    found = await session.exec(select(func.coalesce(func.sum(JournalLineRow.amount), 0)).where(
        JournalLineRow.account == account, JournalLineRow.currency == currency))
    return int(found.one())


async def balances(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Every account's balance by (account, currency)."""
    rows = await session.exec(
        select(JournalLineRow.account, JournalLineRow.currency, func.sum(JournalLineRow.amount))
        .group_by(JournalLineRow.account, JournalLineRow.currency)
    )
    return {(account, currency): int(total) for account, currency, total in rows.all()}


TABLES: list[type[SQLModel]] = [HoldRow, JournalEntryRow, JournalLineRow]
