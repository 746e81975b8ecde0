"""The payments service's tables."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Column, DateTime, case, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments.domain import Order, OrderStatus
from services.payments.payouts import Payout, PayoutStatus
from shared.contracts.payments import CancelReason, OrderItem, PaymentMethod
from shared.db import upsert_row
from shared.money import Money
from shared.timers import as_utc


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
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

    def to_domain(self) -> Order:
        return Order(
            order_id=self.order_id, merchant_id=self.merchant_id, buyer_id=self.buyer_id,
            items=tuple(OrderItem.model_validate(i) for i in json.loads(self.items)),
            amount=Money(amount=self.amount, currency=self.currency), guaranteed=self.guaranteed,
            auto_confirm_days=self.auto_confirm_days, status=OrderStatus(self.status), attempts=self.attempts,
            intent_id=self.intent_id, method=PaymentMethod(self.method) if self.method else None,
            provider_txn_id=self.provider_txn_id, fee=self.fee, paid_at=as_utc(self.paid_at) if self.paid_at else None,
            cancel_party=self.cancel_party,
            cancel_reason=CancelReason(self.cancel_reason) if self.cancel_reason else None,
        )


async def load_order(session: AsyncSession, order_id: str) -> tuple[PaymentOrder | None, Order | None]:
    """The order row, locked for this transaction, and its domain value."""
    row = (await session.exec(select(PaymentOrder).where(PaymentOrder.order_id == order_id).with_for_update())).first()
    return row, row.to_domain() if row else None


def save_order(session: AsyncSession, row: PaymentOrder | None, order: Order, now: datetime) -> None:
    values = dict(
        order_id=order.order_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id,
        items=json.dumps([i.model_dump() for i in order.items], ensure_ascii=False),
        amount=order.amount.amount, currency=order.amount.currency, guaranteed=order.guaranteed,
        auto_confirm_days=order.auto_confirm_days, status=order.status.value, attempts=order.attempts,
        intent_id=order.intent_id, method=order.method.value if order.method else None,
        provider_txn_id=order.provider_txn_id, fee=order.fee, paid_at=order.paid_at, cancel_party=order.cancel_party,
        cancel_reason=order.cancel_reason.value if order.cancel_reason else None, updated_at=now,
    )
    upsert_row(session, row, PaymentOrder, values, now)


class MerchantView(SQLModel, table=True):
    """Payments' own view of merchants: fed by onboarding's events (and a dev-mode seed until onboarding exists)."""

    __tablename__ = "merchant_view"

    merchant_id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16, description="active or suspended")
    industry: str = Field(max_length=32)
    verified: bool = False
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


async def merchant_active(session: AsyncSession, merchant_id: str) -> bool:
    merchant = await session.get(MerchantView, merchant_id)
    return merchant is not None and merchant.status == "active"


async def set_merchant(session: AsyncSession, merchant_id: str, now: datetime, *, status: str,
                       industry: str | None = None, verified: bool | None = None) -> None:
    merchant = await session.get(MerchantView, merchant_id) or MerchantView(
        merchant_id=merchant_id, status=status, industry=industry or "", updated_at=now)
    merchant.status, merchant.updated_at = status, now
    if industry is not None:
        merchant.industry = industry
    if verified is not None:
        merchant.verified = verified
    session.add(merchant)


async def merchant_industry(session: AsyncSession, merchant_id: str) -> str:
    merchant = await session.get(MerchantView, merchant_id)
    return merchant.industry if merchant else ""


async def paid_volume_since(session: AsyncSession, merchant_id: str, since: datetime) -> int:
    found = await session.exec(select(func.coalesce(func.sum(PaymentOrder.amount), 0)).where(
        PaymentOrder.merchant_id == merchant_id, col(PaymentOrder.paid_at) >= since))
    return int(found.one())


async def seed_merchants(session: AsyncSession, seeds: dict[str, str], now: datetime) -> None:
    """Dev/test mode only: merchants that may take orders before onboarding has activated any."""
    for merchant_id, industry in seeds.items():
        if await session.get(MerchantView, merchant_id) is None:
            session.add(MerchantView(merchant_id=merchant_id, status="active", industry=industry, updated_at=now))


class BuyerRestriction(SQLModel, table=True):
    __tablename__ = "buyer_restriction"

    buyer_id: str = Field(primary_key=True, max_length=64)
    until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    cancellations: int


async def buyer_cancellations_since(session: AsyncSession, buyer_id: str, since: datetime) -> int:
    found = await session.exec(select(func.count()).select_from(PaymentOrder).where(
        PaymentOrder.buyer_id == buyer_id, PaymentOrder.cancel_party == "buyer", col(PaymentOrder.updated_at) >= since))
    return int(found.one())


async def buyer_restricted_until(session: AsyncSession, buyer_id: str, now: datetime) -> datetime | None:
    restriction = await session.get(BuyerRestriction, buyer_id)
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

    def to_domain(self) -> Payout:
        return Payout(self.payout_id, self.merchant_id, Money(amount=self.amount, currency=self.currency),
                      PayoutStatus(self.status), as_utc(self.transfer_at) if self.transfer_at else None,
                      self.bank_txn_id, self.failure_reason)


async def load_payout(session: AsyncSession, payout_id: str) -> tuple[PayoutRow | None, Payout | None]:
    row = (await session.exec(select(PayoutRow).where(PayoutRow.payout_id == payout_id).with_for_update())).first()
    return row, row.to_domain() if row else None


def save_payout(session: AsyncSession, row: PayoutRow | None, payout: Payout, now: datetime) -> None:
    upsert_row(session, row, PayoutRow, dict(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount.amount,
        currency=payout.amount.currency, status=payout.status.value, transfer_at=payout.transfer_at,
        bank_txn_id=payout.bank_txn_id, failure_reason=payout.failure_reason, updated_at=now), now)


TABLES: list[type[SQLModel]] = [PaymentOrder, MerchantView, BuyerRestriction, PayoutRow]
