"""The escrow service's tables: holds, payments without the guarantee, late captures, case refunds and the
journal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.escrow.domain import CaseRefund, DirectPayment, Hold, HoldStatus, JournalEntry, LateCapture, LateCaptureStatus
from shared.db import fetch_one, insert_rows, upsert
from shared.timers import as_utc
from shared.workspace import Workspace, locked


@locked
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
    frozen_by: str | None = Field(default=None, max_length=64, description="The open case that froze the hold.")
    paused_seconds: int | None = Field(default=None, description="Auto-confirm time left when frozen (shipped holds).")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))

    def to_domain(self) -> Hold:
        return hold_of(self)


def hold_of(row: Any) -> Hold:
    """The domain hold of a row (an ORM object or a Core row)."""
    return Hold(
        hold_id=row.hold_id, order_id=row.order_id, merchant_id=row.merchant_id, buyer_id=row.buyer_id,
        captured=row.captured, currency=row.currency, fee=row.fee, auto_confirm_days=row.auto_confirm_days,
        status=HoldStatus(row.status), released=row.released, refunded=row.refunded, fee_charged=row.fee_charged,
        carrier=row.carrier, tracking_no=row.tracking_no,
        auto_confirm_at=as_utc(row.auto_confirm_at) if row.auto_confirm_at else None,
        frozen_by=row.frozen_by, paused_seconds=row.paused_seconds,
    )


@locked
class DirectPaymentRow(SQLModel, table=True):
    """An order paid without the guarantee: credited to the merchant at payment, kept for its shipment,
    cancellation refund and cases."""

    __tablename__ = "escrow_direct_payment"

    order_id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(max_length=64)
    amount: int
    currency: str = Field(max_length=3)
    fee: int
    auto_confirm_days: int
    shipped_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    carrier: str | None = Field(default=None, max_length=64)
    tracking_no: str | None = Field(default=None, max_length=64)
    cancellation_refunded: int = 0
    case_refunds: int = 0
    frozen_by: str | None = Field(default=None, max_length=64, description="The open case on the order.")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


@locked
class LateCaptureRow(SQLModel, table=True):
    """A capture an order could not take, owed back to the buyer until the provider's refund is paid."""

    __tablename__ = "escrow_late_capture"

    refund_id: str = Field(primary_key=True, max_length=110)
    intent_id: str = Field(unique=True, max_length=100)
    order_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(max_length=64)
    amount: int
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=32)
    status: str = Field(max_length=32, index=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))

    def to_domain(self) -> LateCapture:
        return late_capture_of(self)


def late_capture_of(row: Any) -> LateCapture:
    return LateCapture(refund_id=row.refund_id, intent_id=row.intent_id, order_id=row.order_id,
                       buyer_id=row.buyer_id, amount=row.amount, currency=row.currency, reason=row.reason,
                       status=LateCaptureStatus(row.status))


class CaseRefundRow(SQLModel, table=True):
    """A case's refund order, executed once: how the waterfall covered it. Kept even when nothing was covered
    (and nothing was posted), so a repeated order changes nothing."""

    __tablename__ = "escrow_case_refund"

    refund_id: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(index=True, max_length=64)
    order_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(max_length=64)
    merchant_id: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    from_hold: int
    from_merchant: int
    shortfall: int
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


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


@locked
class AccountBalanceRow(SQLModel, table=True):
    """The running balance of a party's account (``merchant_available:M-1``, ``buyer_refunds_payable:B-1``, ...),
    updated in the transaction of every posting to it, so what decides on it (a payout, a case refund
    from the merchant's balance) reads one row, locked, instead of summing the account's history.

    The platform's pooled accounts (escrow holding, fees, clearing, ...) are not kept here: every posting
    touches them, and a running balance would make all postings queue on one row. Their balances are
    summed from the journal when reported (``danbao ledger balances``)."""

    __tablename__ = "account_balance"

    account: str = Field(primary_key=True, max_length=120)
    currency: str = Field(primary_key=True, max_length=3)
    balance: int = Field(description="Sum of the account's journal lines (debits positive).")
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


def has_running_balance(account: str) -> bool:
    """A party's account (``kind:party id``), not one of the platform's pooled accounts."""
    return ":" in account


async def booked(ws: Workspace, reference: str) -> bool:
    """Whether the business act ``reference`` is already in the journal (each is booked once)."""
    return bool(await ws.find(JournalEntryRow, "reference", reference))


async def post(ws: Workspace, journal: JournalEntry, reference: str, now: datetime) -> str:
    entry_id = f"JE-{uuid.uuid4().hex[:20]}"
    await ws.insert(JournalEntryRow, [dict(entry_id=entry_id, reference=reference, kind=journal.kind,
                                           order_id=journal.order_id, currency=journal.currency, posted_at=now)],
                    by=("reference",))
    await ws.insert(JournalLineRow, [dict(entry_id=entry_id, account=line.account, currency=journal.currency,
                                          amount=line.amount) for line in journal.lines])
    changes: dict[str, int] = {}
    for line in journal.lines:
        if has_running_balance(line.account):
            changes[line.account] = changes.get(line.account, 0) + line.amount
    for account, amount in sorted(changes.items()):  # in the accounts' order, so concurrent postings lock rows in one order
        await ws.add(AccountBalanceRow, dict(account=account, currency=journal.currency, balance=amount, updated_at=now),
                     add=("balance",))
    return entry_id


async def save_hold(ws: Workspace, hold: Hold, now: datetime) -> None:
    await ws.put(HoldRow, dict(
        hold_id=hold.hold_id, order_id=hold.order_id, merchant_id=hold.merchant_id, buyer_id=hold.buyer_id,
        captured=hold.captured, released=hold.released, refunded=hold.refunded, currency=hold.currency,
        fee=hold.fee, auto_confirm_days=hold.auto_confirm_days, status=hold.status.value, fee_charged=hold.fee_charged,
        carrier=hold.carrier, tracking_no=hold.tracking_no, auto_confirm_at=hold.auto_confirm_at,
        frozen_by=hold.frozen_by, paused_seconds=hold.paused_seconds, created_at=now, updated_at=now,
    ))


def hold_key(order_id: str | None) -> str | None:
    """The hold id of an order's hold (``prefetch`` key)."""
    return None if order_id is None else f"H-{order_id}"


async def load_hold(ws: Workspace, order_id: str) -> Hold | None:
    """The order's hold, its row locked for this transaction."""
    row = await ws.get(HoldRow, hold_key(order_id))
    return hold_of(row) if row else None


async def save_direct(ws: Workspace, direct: DirectPayment, now: datetime) -> None:
    await ws.put(DirectPaymentRow, dict(
        order_id=direct.order_id, merchant_id=direct.merchant_id, buyer_id=direct.buyer_id, amount=direct.amount,
        currency=direct.currency, fee=direct.fee, auto_confirm_days=direct.auto_confirm_days, shipped_at=direct.shipped_at,
        carrier=direct.carrier, tracking_no=direct.tracking_no, cancellation_refunded=direct.cancellation_refunded,
        case_refunds=direct.case_refunds, frozen_by=direct.frozen_by, created_at=now, updated_at=now))


async def load_direct(ws: Workspace, order_id: str) -> DirectPayment | None:
    """The order's payment without the guarantee, its row locked for this transaction."""
    row = await ws.get(DirectPaymentRow, order_id)
    if row is None:
        return None
    return DirectPayment(
        order_id=row.order_id, merchant_id=row.merchant_id, buyer_id=row.buyer_id, amount=row.amount,
        currency=row.currency, fee=row.fee, auto_confirm_days=row.auto_confirm_days,
        shipped_at=as_utc(row.shipped_at) if row.shipped_at else None, carrier=row.carrier, tracking_no=row.tracking_no,
        cancellation_refunded=row.cancellation_refunded, case_refunds=row.case_refunds, frozen_by=row.frozen_by)


async def save_late_capture(ws: Workspace, capture: LateCapture, now: datetime) -> None:
    await ws.put(LateCaptureRow, dict(
        refund_id=capture.refund_id, intent_id=capture.intent_id, order_id=capture.order_id, buyer_id=capture.buyer_id,
        amount=capture.amount, currency=capture.currency, reason=capture.reason, status=capture.status.value,
        created_at=now, updated_at=now))


async def load_late_capture(ws: Workspace, refund_id: str) -> LateCapture | None:
    """The late capture its refund settles, locked for this transaction, if ``refund_id`` is one's."""
    row = await ws.get(LateCaptureRow, refund_id)
    return late_capture_of(row) if row else None


async def case_refund_executed(ws: Workspace, refund_id: str) -> bool:
    return await ws.get(CaseRefundRow, refund_id) is not None


async def save_case_refund(ws: Workspace, order_id: str, case_id: str, refund_id: str, buyer_id: str,
                           merchant_id: str, currency: str, executed: CaseRefund, now: datetime) -> None:
    await ws.put(CaseRefundRow, dict(
        refund_id=refund_id, case_id=case_id, order_id=order_id, buyer_id=buyer_id, merchant_id=merchant_id,
        currency=currency, from_hold=executed.from_hold, from_merchant=executed.from_merchant,
        shortfall=executed.shortfall, created_at=now))


async def payable_account(session: AsyncSession, reference: str) -> str | None:
    """The ``buyer_refunds_payable:<buyer>`` account the entry booked as ``reference`` credited, if any."""
    found = await session.exec(
        select(JournalLineRow.account).join(JournalEntryRow, JournalEntryRow.entry_id == JournalLineRow.entry_id)
        .where(JournalEntryRow.reference == reference, col(JournalLineRow.account).startswith("buyer_refunds_payable:")))
    return found.first()


async def balance(ws: Workspace, account: str, currency: str) -> int:
    """A party's account balance, its row locked until the transaction ends: a decision on it (a payout,
    a case refund from the merchant) is not made on a balance another transaction is changing."""
    assert has_running_balance(account), f"{account} is a pooled account: sum it from the journal"
    row = await ws.get(AccountBalanceRow, account, currency)
    return int(row.balance) if row is not None else 0


async def journal_balance(session: AsyncSession, account: str, currency: str) -> int:
    """An account's balance summed from its journal lines."""
    found = await session.exec(select(func.coalesce(func.sum(JournalLineRow.amount), 0)).where(
        JournalLineRow.account == account, JournalLineRow.currency == currency))
    return int(found.one())


async def running_balances(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Every running balance by (account, currency)."""
    rows = await session.exec(select(AccountBalanceRow.account, AccountBalanceRow.currency, AccountBalanceRow.balance))
    return {(account, currency): int(amount) for account, currency, amount in rows.all()}


async def backfill_running_balances(session: AsyncSession, now: datetime) -> int:
    """A database made before running balances: compute them once from the journal (at start-up, before
    anything is consumed). Returns how many were written."""
    if (await session.exec(select(AccountBalanceRow.account).limit(1))).first() is not None:
        return 0
    sums = [(account, currency, total) for (account, currency), total in (await balances(session)).items()
            if has_running_balance(account)]
    if sums:
        await upsert(session, AccountBalanceRow, [dict(account=account, currency=currency, balance=total, updated_at=now)
                                                  for account, currency, total in sums], insert_only=(), add=("balance",))
    return len(sums)


async def balances(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Every account's balance by (account, currency)."""
    rows = await session.exec(
        select(JournalLineRow.account, JournalLineRow.currency, func.sum(JournalLineRow.amount))
        .group_by(JournalLineRow.account, JournalLineRow.currency)
    )
    return {(account, currency): int(total) for account, currency, total in rows.all()}


TABLES: list[type[SQLModel]] = [HoldRow, DirectPaymentRow, LateCaptureRow, CaseRefundRow, JournalEntryRow, JournalLineRow, AccountBalanceRow]
