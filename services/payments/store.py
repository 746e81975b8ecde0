"""The payments service's tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, case, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments.collection import MerchantFacts
from services.payments.collection_store import CollectionCodeRow
from services.payments.risk_store import RiskReviewRow, RiskTally
from services.payments.domain import Order, OrderStatus
from services.payments.payouts import MerchantPayouts, Payout, PayoutAccount, PayoutStatus
from shared.contracts.payments import CancelReason, OrderItem, PaymentCapturedLate, PaymentMethod
from shared.contracts.settlement import SettlementAccountKind
from shared.db import fetch_one, insert_rows, upsert
from shared.money import Money
from shared.timers import as_utc
from shared.workspace import Workspace, locked


@locked
class PaymentOrder(SQLModel, table=True):
    __tablename__ = "payment_order"

    order_id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(index=True, max_length=64)
    items: str = Field(description="JSON list of order lines")
    amount: int
    currency: str = Field(max_length=3)
    guaranteed: bool
    auto_confirm_days: int
    status: str = Field(max_length=32, index=True)
    attempts: int = 0
    intent_id: str | None = Field(default=None, max_length=100)
    method: str | None = Field(default=None, max_length=32)
    provider_txn_id: str | None = Field(default=None, max_length=100)
    fee: int = 0
    paid_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    cancel_party: str | None = Field(default=None, max_length=16)
    cancel_reason: str | None = Field(default=None, max_length=32, index=True)
    cancel_note: str | None = Field(default=None, max_length=500)
    collection_code_id: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    def to_domain(self) -> Order:
        return order_of(self)


def order_of(row: Any) -> Order:
    """The domain order of a row (an ORM object or a Core row)."""
    return Order(
        order_id=row.order_id, merchant_id=row.merchant_id, buyer_id=row.buyer_id,
        items=tuple(OrderItem.model_validate(i) for i in json.loads(row.items)),
        amount=Money(amount=row.amount, currency=row.currency), guaranteed=row.guaranteed,
        auto_confirm_days=row.auto_confirm_days, status=OrderStatus(row.status), attempts=row.attempts,
        intent_id=row.intent_id, method=PaymentMethod(row.method) if row.method else None,
        provider_txn_id=row.provider_txn_id, fee=row.fee, paid_at=as_utc(row.paid_at) if row.paid_at else None,
        cancel_party=row.cancel_party,
        cancel_reason=CancelReason(row.cancel_reason) if row.cancel_reason else None,
        cancel_note=row.cancel_note, collection_code_id=row.collection_code_id,
    )


async def load_order(ws: Workspace, order_id: str) -> Order | None:
    """The order, its row locked for this transaction."""
    row = await ws.get(PaymentOrder, order_id)
    return order_of(row) if row else None


async def save_order(ws: Workspace, order: Order, now: datetime) -> None:
    await ws.put(PaymentOrder, dict(
        order_id=order.order_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id,
        items=json.dumps([i.model_dump() for i in order.items], ensure_ascii=False),
        amount=order.amount.amount, currency=order.amount.currency, guaranteed=order.guaranteed,
        auto_confirm_days=order.auto_confirm_days, status=order.status.value, attempts=order.attempts,
        intent_id=order.intent_id, method=order.method.value if order.method else None,
        provider_txn_id=order.provider_txn_id, fee=order.fee, paid_at=order.paid_at, cancel_party=order.cancel_party,
        cancel_reason=order.cancel_reason.value if order.cancel_reason else None, cancel_note=order.cancel_note,
        collection_code_id=order.collection_code_id, created_at=now, updated_at=now,
    ))


class LateCaptureRow(SQLModel, table=True):
    """A capture the order could not take, once per payment intent; escrow refunds it in full."""

    __tablename__ = "late_capture"

    intent_id: str = Field(primary_key=True, max_length=100)
    order_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(max_length=64)
    amount: int
    currency: str = Field(max_length=3)
    provider_txn_id: str = Field(max_length=100)
    reason: str = Field(max_length=32)
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


async def late_capture_recorded(ws: Workspace, intent_id: str) -> bool:
    return await ws.get(LateCaptureRow, intent_id) is not None


async def record_late_capture(ws: Workspace, late: PaymentCapturedLate, now: datetime) -> None:
    await ws.put(LateCaptureRow, dict(
        intent_id=late.intent_id, order_id=late.order_id, buyer_id=late.buyer_id, amount=late.amount.amount,
        currency=late.amount.currency, provider_txn_id=late.provider_txn_id, reason=late.reason, recorded_at=now),
        insert_only=("recorded_at",))


class MerchantView(SQLModel, table=True):
    """Payments' own view of merchants: fed by onboarding's events (and a dev-mode seed until onboarding exists)."""

    __tablename__ = "merchant_view"

    merchant_id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16, description="active or suspended")
    industry: str = Field(max_length=32)
    verified: bool = False
    active_since: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True),
                                          description="first activation; None for merchants seeded in dev mode (established)")
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    settlement_account_ref: str | None = Field(default=None, max_length=64, description="verified at onboarding")
    settlement_account_masked: str | None = Field(default=None, max_length=40)
    settlement_account_kind: str | None = Field(default=None, max_length=16)
    sealed_settlement_account: str | None = Field(default=None, description="for the bank; payments cannot open it")
    payouts_held_reason: str | None = Field(default=None, max_length=200,
                                            description="set while payouts are held (a risk review); null otherwise")


async def merchant_status(ws: Workspace, merchant_id: str) -> str | None:
    """"active" or "suspended"; None for a merchant payments has not heard of."""
    merchant = await ws.get(MerchantView, merchant_id)
    return None if merchant is None else str(merchant.status)


async def set_merchant(session: AsyncSession, merchant_id: str, now: datetime, *, status: str,
                       industry: str | None = None, verified: bool | None = None, activated: bool = False) -> None:
    """``activated``: onboarding's activation (the first one starts the merchant's ``active_since``)."""
    merchant = await session.get(MerchantView, merchant_id) or MerchantView(
        merchant_id=merchant_id, status=status, industry=industry or "", updated_at=now)
    merchant.status, merchant.updated_at = status, now
    if activated and merchant.active_since is None:
        merchant.active_since = now
    if industry is not None:
        merchant.industry = industry
    if verified is not None:
        merchant.verified = verified
    session.add(merchant)


async def set_settlement_account(session: AsyncSession, merchant_id: str, account: PayoutAccount) -> None:
    """The account onboarding verified (``onboarding.merchant.activated``): payouts go there only."""
    merchant = await session.get(MerchantView, merchant_id)
    assert merchant is not None, "set_merchant first"
    merchant.settlement_account_ref, merchant.settlement_account_masked = account.ref, account.masked
    merchant.settlement_account_kind, merchant.sealed_settlement_account = account.kind.value, account.sealed
    session.add(merchant)


async def merchant_payouts(session: AsyncSession, merchant_id: str) -> MerchantPayouts:
    merchant = await fetch_one(session, MerchantView, merchant_id=merchant_id)
    if merchant is None:
        return MerchantPayouts(status=None)
    account = None
    if merchant.settlement_account_ref and merchant.sealed_settlement_account:
        account = PayoutAccount(merchant.settlement_account_ref, merchant.settlement_account_masked or "****",
                                SettlementAccountKind(merchant.settlement_account_kind or SettlementAccountKind.PERSONAL_CARD),
                                merchant.sealed_settlement_account)
    return MerchantPayouts(status=str(merchant.status), account=account, held=merchant.payouts_held_reason)


async def hold_payouts(session: AsyncSession, merchant_id: str, reason: str | None, now: datetime) -> None:
    """The risk-review hook: with a reason, the merchant's payouts are refused (``payouts_held``) and scheduled ones
    fail when due (their money goes back to its balance); with None, they are allowed again."""
    merchant = await session.get(MerchantView, merchant_id)
    if merchant is None:
        raise LookupError(f"payments knows no merchant {merchant_id}")
    merchant.payouts_held_reason, merchant.updated_at = reason, now
    session.add(merchant)


async def merchant_facts(ws: Workspace, merchant_id: str) -> MerchantFacts:
    merchant = await ws.get(MerchantView, merchant_id)
    if merchant is None:
        return MerchantFacts(None)
    return MerchantFacts(str(merchant.status), merchant.industry, bool(merchant.verified))


async def merchant_industry(ws: Workspace, merchant_id: str) -> str:
    merchant = await ws.get(MerchantView, merchant_id)
    return merchant.industry if merchant else ""


class MerchantMonthVolume(SQLModel, table=True):
    """What a merchant was paid in a calendar month (Asia/Shanghai), kept as payments settle; it picks the fee tier."""

    __tablename__ = "merchant_month_volume"

    merchant_id: str = Field(primary_key=True, max_length=64)
    month: str = Field(primary_key=True, max_length=7, description="YYYY-MM")
    paid: int = 0


async def month_volume(ws: Workspace, merchant_id: str, month: str) -> int:
    found = await ws.get(MerchantMonthVolume, merchant_id, month)
    return int(found.paid) if found else 0


async def add_month_volume(ws: Workspace, merchant_id: str, month: str, amount: int) -> None:
    """One atomic statement: two replicas settling the same merchant's payments at once both count."""
    await ws.add(MerchantMonthVolume, dict(merchant_id=merchant_id, month=month, paid=amount), add=("paid",))


async def seed_merchants(session: AsyncSession, seeds: dict[str, str], now: datetime,
                         account: Callable[[str], PayoutAccount]) -> None:
    """Dev/test mode only: merchants that may take orders before onboarding has activated any (verified, as an
    activation after a passed registry check would leave them), and be paid out to ``account(merchant_id)``."""
    for merchant_id, industry in seeds.items():
        merchant = await session.get(MerchantView, merchant_id)
        if merchant is None:
            session.add(MerchantView(merchant_id=merchant_id, status="active", industry=industry, verified=True, updated_at=now))
            await session.flush()
        if merchant is None or merchant.settlement_account_ref is None:
            await set_settlement_account(session, merchant_id, account(merchant_id))


class BuyerRestriction(SQLModel, table=True):
    __tablename__ = "buyer_restriction"

    buyer_id: str = Field(primary_key=True, max_length=64)
    until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    cancellations: int


async def buyer_cancellations_since(session: AsyncSession, buyer_id: str, since: datetime) -> int:
    found = await session.exec(select(func.count()).select_from(PaymentOrder).where(
        PaymentOrder.buyer_id == buyer_id, PaymentOrder.cancel_party == "buyer", col(PaymentOrder.updated_at) >= since))
    return int(found.one())


async def buyer_restricted_until(ws: Workspace, buyer_id: str, now: datetime) -> datetime | None:
    restriction = await ws.get(BuyerRestriction, buyer_id)
    if restriction is None or as_utc(restriction.until) <= now:
        return None
    return as_utc(restriction.until)


async def cancellation_counts(session: AsyncSession) -> list[tuple[str, str, int, int]]:
    """(party, reason, orders, refunded fen) for every cancelled order."""
    rows = await session.exec(
        select(PaymentOrder.cancel_party, PaymentOrder.cancel_reason, func.count(),
               func.sum(case((col(PaymentOrder.provider_txn_id).is_not(None), PaymentOrder.amount), else_=0)))
        .where(PaymentOrder.status == "cancelled").group_by(PaymentOrder.cancel_party, PaymentOrder.cancel_reason)
        .order_by(PaymentOrder.cancel_party, PaymentOrder.cancel_reason))
    return [(party or "", reason or "", int(n), int(refunded or 0)) for party, reason, n, refunded in rows.all()]


async def cancellation_notes(session: AsyncSession, limit: int) -> list[tuple[str, str, str, str, str, datetime]]:
    """(order, party, reason, note, merchant, when) of the latest cancelled orders that carry a note."""
    rows = await session.exec(
        select(PaymentOrder.order_id, PaymentOrder.cancel_party, PaymentOrder.cancel_reason, PaymentOrder.cancel_note,
               PaymentOrder.merchant_id, PaymentOrder.updated_at)
        .where(PaymentOrder.status == "cancelled", col(PaymentOrder.cancel_note).is_not(None))
        .order_by(col(PaymentOrder.updated_at).desc()).limit(limit))
    return [(o, p or "", r or "", n or "", m, as_utc(at)) for o, p, r, n, m, at in rows.all()]


class PayoutRow(SQLModel, table=True):
    __tablename__ = "payout"

    payout_id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    amount: int
    currency: str = Field(max_length=3)
    status: str = Field(max_length=16, index=True)
    transfer_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    bank_txn_id: str | None = Field(default=None, max_length=64)
    failure_reason: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    account_ref: str | None = Field(default=None, max_length=64, description="the verified account it goes to")
    account_masked: str | None = Field(default=None, max_length=40)
    account_kind: str | None = Field(default=None, max_length=16)
    business_days: int | None = Field(default=None, description="N of T+N, from the payout schedule")
    review: str | None = Field(default=None, max_length=100, description="the risk review holding it, or 'rejected'")
    reserved: bool = Field(default=False, description="escrow reserved the money while a review held it")

    def to_domain(self) -> Payout:
        return payout_of(self)


def payout_of(row: Any) -> Payout:
    return Payout(row.payout_id, row.merchant_id, Money(amount=row.amount, currency=row.currency),
                  PayoutStatus(row.status), as_utc(row.transfer_at) if row.transfer_at else None,
                  row.bank_txn_id, row.failure_reason, row.account_ref, row.account_masked,
                  SettlementAccountKind(row.account_kind) if row.account_kind else None, row.business_days,
                  row.review, bool(row.reserved))


async def load_payout(session: AsyncSession, payout_id: str) -> Payout | None:
    row = await fetch_one(session, PayoutRow, lock=True, payout_id=payout_id)
    return payout_of(row) if row else None


async def save_payout(session: AsyncSession, payout: Payout, now: datetime) -> None:
    await upsert(session, PayoutRow, dict(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount.amount,
        currency=payout.amount.currency, status=payout.status.value, transfer_at=payout.transfer_at,
        bank_txn_id=payout.bank_txn_id, failure_reason=payout.failure_reason, account_ref=payout.account_ref,
        account_masked=payout.account_masked, account_kind=payout.account_kind.value if payout.account_kind else None,
        business_days=payout.business_days, review=payout.review, reserved=payout.reserved, created_at=now, updated_at=now))


TABLES: list[type[SQLModel]] = [CollectionCodeRow, RiskTally, RiskReviewRow, PaymentOrder, LateCaptureRow, MerchantView, BuyerRestriction, PayoutRow, MerchantMonthVolume]
