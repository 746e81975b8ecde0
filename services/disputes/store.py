"""The disputes service's tables: cases, their evidence and history, the orders it knows of (from
escrow's events), refund orders, compensation used per buyer and year, and insurer claims."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Column, DateTime, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.disputes.cases import Case, OrderView
from shared.contracts.disputes import CaseReason, CaseStatus
from shared.workspace import Workspace, locked
from shared.db import fetch_one, insert_rows, run, upsert
from shared.envelope import Payload
from shared.timers import as_utc


def _when(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


@locked
class OrderRow(SQLModel, table=True):
    """A paid order, as escrow's events describe it: a guaranteed one's hold, or a direct payment."""

    __tablename__ = "dispute_order"

    order_id: str = Field(primary_key=True, max_length=64)
    buyer_id: str = Field(max_length=64)
    merchant_id: str = Field(max_length=64)
    paid: int
    currency: str = Field(max_length=3)
    shipped: bool = False
    released_at: datetime | None = _when()
    release_reason: str | None = Field(default=None, max_length=32)
    refunded_elsewhere: int = 0
    committed: int = 0
    guaranteed: bool = True
    created_at: datetime = _when(nullable=False)


class CaseRow(SQLModel, table=True):
    __tablename__ = "dispute_case"

    case_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(index=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=32)
    paid: int
    requested: int
    status: str = Field(max_length=32, index=True)
    opened_at: datetime = _when(nullable=False)
    round: int = 1
    counter_offer: int | None = None
    respond_by: datetime | None = _when()
    escalate_by: datetime | None = _when()
    evidence_count: int = 0
    outcome: int = 0
    basis: str | None = Field(default=None, max_length=16)
    ordered: int = 0
    refunded: int = 0
    compensated: int = 0
    refund_orders: int = 0
    verify_started_at: datetime | None = _when()
    verified: bool | None = None
    satisfied: bool | None = None
    closed_outcome: str | None = Field(default=None, max_length=32)
    due_at: datetime | None = _when()
    overdue_since: datetime | None = _when()
    return_carrier: str | None = Field(default=None, max_length=64)
    return_tracking_no: str | None = Field(default=None, max_length=64)
    updated_at: datetime | None = _when()


class EvidenceRow(SQLModel, table=True):
    __tablename__ = "dispute_evidence"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    party: str = Field(max_length=16)
    reference: str = Field(max_length=300)
    sha256: str = Field(max_length=64)
    description: str = Field(max_length=500)
    added_at: datetime = _when(nullable=False)


class HistoryRow(SQLModel, table=True):
    """Every event of a case, in order: its negotiation rounds, rulings and verification."""

    __tablename__ = "dispute_history"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    type: str = Field(max_length=80)
    data: str
    occurred_at: datetime = _when(nullable=False)


class RefundOrderRow(SQLModel, table=True):
    __tablename__ = "dispute_refund_order"

    refund_id: str = Field(primary_key=True, max_length=80)
    case_id: str = Field(index=True, max_length=64)
    amount: int
    basis: str = Field(max_length=16)
    executed: bool = False
    from_hold: int = 0
    from_merchant: int = 0
    shortfall: int = 0
    compensated: int = 0
    created_at: datetime = _when(nullable=False)


class CompensationUsageRow(SQLModel, table=True):
    """Priority compensation paid to a buyer in a calendar year (China time), against the yearly cap."""

    __tablename__ = "dispute_compensation_usage"

    buyer_id: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    total: int = 0


class ClaimRow(SQLModel, table=True):
    __tablename__ = "dispute_insurer_claim"

    claim_id: str = Field(primary_key=True, max_length=80)
    case_id: str = Field(index=True, max_length=64)
    amount: int
    currency: str = Field(max_length=3)
    decision: str | None = Field(default=None, max_length=16)
    approved: int | None = None
    paid: int | None = None
    created_at: datetime = _when(nullable=False)
    decided_at: datetime | None = _when()
    paid_at: datetime | None = _when()


def _values(record: Any) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in dataclasses.asdict(record).items()}


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value else None


async def load_order(ws: Workspace, order_id: str) -> OrderView | None:
    row = await ws.get(OrderRow, order_id)
    if row is None:
        return None
    return OrderView(order_id=row.order_id, buyer_id=row.buyer_id, merchant_id=row.merchant_id, paid=row.paid,
                     currency=row.currency, shipped=row.shipped, released_at=_utc(row.released_at),
                     release_reason=row.release_reason, refunded_elsewhere=row.refunded_elsewhere, committed=row.committed,
                     guaranteed=row.guaranteed)


async def save_order(ws: Workspace, order: OrderView, now: datetime) -> None:
    await ws.put(OrderRow, {**_values(order), "created_at": now})


def _case_of(row: Any) -> Case:
    return Case(
        case_id=row.case_id, order_id=row.order_id, buyer_id=row.buyer_id, merchant_id=row.merchant_id,
        currency=row.currency, reason=CaseReason(row.reason), paid=row.paid, requested=row.requested,
        status=CaseStatus(row.status), opened_at=as_utc(row.opened_at), round=row.round, counter_offer=row.counter_offer,
        respond_by=_utc(row.respond_by), escalate_by=_utc(row.escalate_by), evidence_count=row.evidence_count,
        outcome=row.outcome, basis=row.basis, ordered=row.ordered, refunded=row.refunded, compensated=row.compensated,
        refund_orders=row.refund_orders, verify_started_at=_utc(row.verify_started_at), verified=row.verified,
        satisfied=row.satisfied, closed_outcome=row.closed_outcome, due_at=_utc(row.due_at),
        overdue_since=_utc(row.overdue_since), return_carrier=row.return_carrier, return_tracking_no=row.return_tracking_no)


async def load_case(session: AsyncSession, case_id: str) -> Case | None:
    row = await fetch_one(session, CaseRow, lock=True, case_id=case_id)
    return _case_of(row) if row else None


async def open_case_on(session: AsyncSession, order_id: str) -> Case | None:
    """The order's case that is not closed, if any (at most one)."""
    row = (await session.exec(select(CaseRow).where(CaseRow.order_id == order_id, CaseRow.status != CaseStatus.CLOSED.value)
                              .with_for_update())).first()
    return _case_of(row) if row else None


async def save_case(session: AsyncSession, case: Case, now: datetime) -> None:
    await upsert(session, CaseRow, {**_values(case), "updated_at": now}, insert_only=())


async def record(session: AsyncSession, case_id: str, events: list[Payload], now: datetime) -> None:
    """Append a case's events to its history."""
    await insert_rows(session, HistoryRow, [dict(case_id=case_id, type=e.TYPE, data=e.model_dump_json(),  # type: ignore[attr-defined]
                                                 occurred_at=now) for e in events])


async def history(session: AsyncSession, case_id: str) -> list[tuple[str, dict[str, Any], datetime]]:
    rows = await session.exec(select(HistoryRow).where(HistoryRow.case_id == case_id).order_by(col(HistoryRow.id)))
    return [(r.type, json.loads(r.data), as_utc(r.occurred_at)) for r in rows.all()]


async def add_evidence(session: AsyncSession, case_id: str, party: str, evidence: list[Any], now: datetime) -> None:
    await insert_rows(session, EvidenceRow, [dict(case_id=case_id, party=party, reference=e.reference, sha256=e.sha256,
                                                  description=e.description, added_at=now) for e in evidence])


async def add_refund_order(session: AsyncSession, refund_id: str, case_id: str, amount: int, basis: str, now: datetime) -> None:
    await insert_rows(session, RefundOrderRow, [dict(refund_id=refund_id, case_id=case_id, amount=amount, basis=basis,
                                                     created_at=now)])


async def load_refund_order(session: AsyncSession, refund_id: str) -> Any:
    return await fetch_one(session, RefundOrderRow, lock=True, refund_id=refund_id)


async def _update(session: AsyncSession, model: type[SQLModel], key: str, value: str, **values: Any) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    await run(session, table.update().where(table.c[key] == value).values(**values))


async def mark_executed(session: AsyncSession, refund_id: str, from_hold: int, from_merchant: int, shortfall: int,
                        compensated: int) -> None:
    await _update(session, RefundOrderRow, "refund_id", refund_id, executed=True, from_hold=from_hold,
                  from_merchant=from_merchant, shortfall=shortfall, compensated=compensated)


async def compensation_used(session: AsyncSession, buyer_id: str, year: int) -> int:
    row = await fetch_one(session, CompensationUsageRow, lock=True, buyer_id=buyer_id, year=year)
    return row.total if row else 0


async def use_compensation(session: AsyncSession, buyer_id: str, year: int, total: int) -> None:
    await upsert(session, CompensationUsageRow, dict(buyer_id=buyer_id, year=year, total=total), insert_only=())


async def add_claim(session: AsyncSession, claim_id: str, case_id: str, amount: int, currency: str, now: datetime) -> None:
    await insert_rows(session, ClaimRow, [dict(claim_id=claim_id, case_id=case_id, amount=amount, currency=currency,
                                               created_at=now)])


async def load_claim(session: AsyncSession, claim_id: str) -> Any:
    return await fetch_one(session, ClaimRow, lock=True, claim_id=claim_id)


async def update_claim(session: AsyncSession, claim_id: str, **values: Any) -> None:
    await _update(session, ClaimRow, "claim_id", claim_id, **values)


async def open_cases(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(CaseRow)
                                   .where(CaseRow.status != CaseStatus.CLOSED.value))).one())


async def overdue_cases(session: AsyncSession) -> int:
    """Cases in the supervisors' queue: in arbitration past the arbitration deadline, not ruled yet."""
    return int((await session.exec(select(func.count()).select_from(CaseRow).where(
        CaseRow.status == CaseStatus.IN_ARBITRATION.value, col(CaseRow.overdue_since).is_not(None)))).one())


TABLES: list[type[SQLModel]] = [OrderRow, CaseRow, EvidenceRow, HistoryRow, RefundOrderRow, CompensationUsageRow, ClaimRow]
