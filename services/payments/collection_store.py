"""The collection codes' table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments.collection import CodeStatus, CollectionCode
from shared.contracts.collection import CollectionKind
from shared.contracts.order_lines import OrderItem, PaymentMethod
from shared.db import fetch_one, upsert
from shared.money import Money
from shared.timers import as_utc


class CollectionCodeRow(SQLModel, table=True):
    __tablename__ = "collection_code"

    code_id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=8)
    channel: str = Field(max_length=16)
    amount: int | None = None
    currency: str | None = Field(default=None, max_length=3)
    items: str = Field(description="JSON list of order lines")
    order_id: str | None = Field(default=None, max_length=64)
    buyer_id: str | None = Field(default=None, max_length=64)
    guarantee_available: bool
    auto_confirm_days: int
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(max_length=8)
    redemptions: int = 0
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


def code_of(row: Any) -> CollectionCode:
    return CollectionCode(
        code_id=row.code_id, merchant_id=row.merchant_id, kind=CollectionKind(row.kind), channel=PaymentMethod(row.channel),
        amount=Money(amount=row.amount, currency=row.currency) if row.amount is not None else None,
        items=tuple(OrderItem.model_validate(i) for i in json.loads(row.items)), order_id=row.order_id,
        buyer_id=row.buyer_id, guarantee_available=row.guarantee_available, auto_confirm_days=row.auto_confirm_days,
        expires_at=as_utc(row.expires_at), status=CodeStatus(row.status), redemptions=row.redemptions)


async def load_code(session: AsyncSession, code_id: str) -> CollectionCode | None:
    """The code, its row locked for this transaction (two customers redeeming one order code: one wins)."""
    row = await fetch_one(session, CollectionCodeRow, lock=True, code_id=code_id)
    return code_of(row) if row else None


async def save_code(session: AsyncSession, code: CollectionCode, now: datetime) -> None:
    await upsert(session, CollectionCodeRow, dict(
        code_id=code.code_id, merchant_id=code.merchant_id, kind=code.kind.value, channel=code.channel.value,
        amount=code.amount.amount if code.amount else None, currency=code.amount.currency if code.amount else None,
        items=json.dumps([i.model_dump() for i in code.items], ensure_ascii=False), order_id=code.order_id,
        buyer_id=code.buyer_id, guarantee_available=code.guarantee_available, auto_confirm_days=code.auto_confirm_days,
        expires_at=code.expires_at, status=code.status.value, redemptions=code.redemptions, created_at=now, updated_at=now))
