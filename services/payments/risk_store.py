"""What the risk rules measure, and the reviews they open: payments' own tables.

``risk_tally`` counts what a rule counts (a payment begun by a buyer, from a device, to a merchant; a failed
payment; a paid amount; money reaching a merchant's balance; a merchant's cancellation of a paid order) by key,
in buckets of a second, a minute, an hour and a day (UTC): each thing counted adds to its four buckets in one
statement. A window "since T" is read from the fewest buckets that cover it, to the second: the seconds from T
to the next whole minute, the minutes to the next whole hour, the hours to the next whole day, then whole days;
at most 59 + 59 + 23 + 90 rows however busy the key, where one row per thing counted grew with a merchant's
volume (a 30-day window of a busy merchant was a scan of every payment in it, on every payment). A window
starts at the whole second. The retention task prunes buckets older than the longest window
(``risk_desk.LONGEST_WINDOW``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, DateTime, bindparam, func, literal_column, select as sa_select, union_all
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.risk import RiskFlagged, RiskOutcome, RiskSubject
from shared.db import fetch_one, run, upsert
from shared.timers import as_utc
from shared.workspace import Workspace

# grain → seconds in a bucket, finest first; each grain covers the window up to the next coarser boundary
GRAINS = (("s", 1), ("m", 60), ("h", 3600), ("d", 86400))


class RiskTally(SQLModel, table=True):
    __tablename__ = "risk_tally"

    key: str = Field(primary_key=True, max_length=100, description="what is counted, e.g. pay:buyer:B-1, paid:merchant:M-1")
    grain: str = Field(primary_key=True, max_length=1, description="s, m, h or d: the bucket's length")
    bucket: int = Field(primary_key=True, description="the bucket's start, in its grain since 1970-01-01 UTC")
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True), description="the bucket's start")
    count: int = 0
    amount: int = 0


def pay_keys(buyer_id: str, merchant_id: str, device_id: str | None) -> list[str]:
    return [f"pay:buyer:{buyer_id}", f"pay:merchant:{merchant_id}"] + ([f"pay:device:{device_id}"] if device_id else [])


def _epoch(at: datetime) -> int:
    return int(as_utc(at).timestamp())


async def observe(ws: Workspace, at: datetime, *keys: str, amount: int = 0) -> None:
    """One more of each key at ``at`` (with ``amount``): its four buckets grow (in one statement, when written)."""
    second = _epoch(at)
    for key in keys:
        for grain, length in GRAINS:
            await ws.add(RiskTally, dict(key=key, grain=grain, bucket=second // length,
                                         at=datetime.fromtimestamp(second // length * length, timezone.utc),
                                         count=1, amount=amount), add=("count", "amount"), insert_only=("at",))


def _ranges(since: datetime) -> list[tuple[str, int, int | None]]:
    """(grain, first bucket, bucket after the last or None for no end) covering ``since`` (to the second) onwards."""
    start = _epoch(since)
    ranges: list[tuple[str, int, int | None]] = []
    for (grain, length), coarser in zip(GRAINS, [*GRAINS[1:], None], strict=True):
        first = -(-start // length)  # the first whole bucket at or after start
        if coarser is None:
            ranges.append((grain, first, None))
            break
        boundary = -(-start // coarser[1]) * coarser[1]  # the next whole coarser bucket
        ranges.append((grain, first, boundary // length))
        start = boundary
    return ranges


_T = RiskTally.__table__  # type: ignore[attr-defined]


def _part(n: int, bounded: bool) -> Any:
    where = [_T.c.key == bindparam("key"), _T.c.grain == bindparam(f"g{n}"), _T.c.bucket >= bindparam(f"from{n}")]
    if bounded:
        where.append(_T.c.bucket < bindparam(f"to{n}"))
    return sa_select(_T.c.count, _T.c.amount).where(*where)


_PARTS = union_all(*(_part(n, n < len(GRAINS) - 1) for n in range(len(GRAINS)))).subquery()
_TALLY = sa_select(func.coalesce(func.sum(_PARTS.c.count), literal_column("0")),
                   func.coalesce(func.sum(_PARTS.c.amount), literal_column("0")))


async def tally(ws: Workspace, key: str, since: datetime) -> tuple[int, int]:
    """(how many, the sum of their amounts) under ``key`` from ``since`` (to the second) on: what the database
    holds (read once per batch for the key and second) and what the batch has counted and not written yet."""
    start = _epoch(since)
    found = ws.derived.get(("tally", key, start)) if ws.batched else None  # in direct mode the database has it all
    if found is None:
        params: dict[str, Any] = {"key": key}
        for n, (grain, first, end) in enumerate(_ranges(since)):
            params.update({f"g{n}": grain, f"from{n}": first, **({f"to{n}": end} if end is not None else {})})
        assert ws.session is not None
        count, total = await run(ws.session, _TALLY, params, fetch="first")
        found = (int(count), int(total))
        if ws.batched:  # in direct mode what is counted is written at once: nothing to remember
            ws.derived[("tally", key, start)] = found
    count, total = found
    for row in ws.pending(RiskTally, key):  # each thing counted is in exactly one second's bucket
        if row["grain"] == "s" and row["bucket"] >= start:
            count, total = count + row["count"], total + row["amount"]
    return count, total


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


async def record_flag(ws: Workspace, flag: RiskFlagged, now: datetime) -> None:
    status = "open" if flag.outcome is RiskOutcome.REVIEW else "blocked"
    await ws.put(RiskReviewRow, dict(
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
