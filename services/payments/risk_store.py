"""What the risk rules measure, and the reviews they open: payments' own tables.

``risk_observation`` keeps one row per thing a rule counts (a payment begun by a buyer, from a device, to a
merchant; a failed payment; a paid amount; money reaching a merchant's balance; a merchant's cancellation of a
paid order), by key and time, so each figure is one indexed count or sum. The retention task prunes rows older
than the longest window (``risk_desk.LONGEST_WINDOW``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.risk import RiskFlagged, RiskOutcome, RiskSubject
from shared.db import fetch_one, insert_rows, upsert
from shared.timers import as_utc


class RiskObservation(SQLModel, table=True):
    __tablename__ = "risk_observation"
    __table_args__ = (Index("ix_risk_observation_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=100, description="what is counted, e.g. pay:buyer:B-1, paid:merchant:M-1")
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    amount: int = 0


def pay_keys(buyer_id: str, merchant_id: str, device_id: str | None) -> list[str]:
    return [f"pay:buyer:{buyer_id}", f"pay:merchant:{merchant_id}"] + ([f"pay:device:{device_id}"] if device_id else [])


async def observe(session: AsyncSession, at: datetime, *keys: str, amount: int = 0) -> None:
    await insert_rows(session, RiskObservation, [dict(key=key, at=at, amount=amount) for key in keys])


async def tally(session: AsyncSession, key: str, since: datetime) -> tuple[int, int]:
    """(how many, the sum of their amounts) under ``key`` from ``since``."""
    found = await session.exec(select(func.count(), func.coalesce(func.sum(RiskObservation.amount), 0))
                               .where(RiskObservation.key == key, col(RiskObservation.at) >= since))
    count, total = found.one()
    return int(count), int(total)


class RiskReviewRow(SQLModel, table=True):
    __tablename__ = "risk_review"

    review_id: str = Field(primary_key=True, max_length=100)
    subject: str = Field(max_length=16)
    subject_id: str = Field(max_length=64, index=True)
    merchant_id: str = Field(max_length=64, index=True)
    buyer_id: str | None = Field(default=None, max_length=64)
    rule: str = Field(max_length=32)
    outcome: str = Field(max_length=8)
    observed: int
    threshold: int
    detail: str = Field(max_length=500)
    status: str = Field(max_length=16, index=True, description="open, released, rejected (or blocked: nothing to decide)")
    decided_by: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


@dataclass(frozen=True)
class Review:
    review_id: str
    subject: RiskSubject
    subject_id: str
    merchant_id: str
    buyer_id: str | None
    rule: str
    status: str


async def record_flag(session: AsyncSession, flag: RiskFlagged, now: datetime) -> None:
    status = "open" if flag.outcome is RiskOutcome.REVIEW else "blocked"
    await upsert(session, RiskReviewRow, dict(
        review_id=flag.review_id, subject=flag.subject.value, subject_id=flag.subject_id, merchant_id=flag.merchant_id,
        buyer_id=flag.buyer_id, rule=flag.rule, outcome=flag.outcome.value, observed=flag.observed, threshold=flag.threshold,
        detail=flag.detail[:500], status=status, created_at=now, updated_at=now), insert_only=("created_at", "status"))


async def load_review(session: AsyncSession, review_id: str) -> Review | None:
    row = await fetch_one(session, RiskReviewRow, lock=True, review_id=review_id)
    if row is None:
        return None
    return Review(row.review_id, RiskSubject(row.subject), row.subject_id, row.merchant_id, row.buyer_id, row.rule, row.status)


async def close_review(session: AsyncSession, review_id: str, status: str, by: str, note: str, now: datetime) -> None:
    row = await session.get(RiskReviewRow, review_id)
    assert row is not None
    row.status, row.decided_by, row.note, row.updated_at = status, by, note, now
    session.add(row)


async def open_reviews_of(session: AsyncSession, merchant_id: str, subject: RiskSubject) -> list[str]:
    """The merchant's open reviews of this subject."""
    found = await session.exec(select(RiskReviewRow.review_id).where(
        RiskReviewRow.merchant_id == merchant_id, RiskReviewRow.status == "open", RiskReviewRow.subject == subject.value)
        .order_by(RiskReviewRow.review_id))
    return list(found.all())


async def reviews(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    """The latest reviews and blocks, newest first (``danbao report risk``)."""
    found = await session.exec(select(RiskReviewRow).order_by(col(RiskReviewRow.created_at).desc()).limit(limit))
    return [dict(row.model_dump(), created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at)) for row in found.all()]
