"""The ledger desk (operators): every account's balance and the trial balance, from escrow's
``escrow.ledger.entry_posted`` events in the edge's read model; a merchant's day report (receipts less fees,
refunds from its holds, payouts, as ``danbao report merchant``) with a CSV download."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web.console.auth import staff_page
from services.web.pages import WebState, render
from services.web.security import Staff, require, staff_or_403
from services.web.store import LedgerEntryView, LedgerLineView, OrderView, balances
from shared.business_days import CHINA
from shared.contracts.common import ID_PATTERN
from shared.timers import as_utc


@dataclass
class TrialBalance:
    debits: dict[str, int]
    credits: dict[str, int]
    entries: int
    unbalanced: list[str]

    @property
    def balanced(self) -> bool:
        return not self.unbalanced and self.debits == self.credits


@dataclass
class ReportLine:
    posted_at: datetime
    kind: str
    entry_id: str
    order_id: str | None
    gross: int
    fee: int
    net: int


async def trial_balance(session: AsyncSession) -> TrialBalance:
    per_entry = await session.exec(select(LedgerLineView.entry_id, func.sum(LedgerLineView.amount))
                                   .group_by(LedgerLineView.entry_id))
    unbalanced = [entry_id for entry_id, total in per_entry.all() if total != 0]
    debits: dict[str, int] = {}
    credits: dict[str, int] = {}
    sides = await session.exec(select(LedgerLineView.currency, LedgerLineView.amount > 0, func.sum(LedgerLineView.amount))
                               .group_by(LedgerLineView.currency, LedgerLineView.amount > 0))
    for currency, debit, total in sides.all():
        side = debits if debit else credits
        side[currency] = side.get(currency, 0) + abs(int(total))
    for currency in set(debits) | set(credits):
        debits.setdefault(currency, 0)
        credits.setdefault(currency, 0)
    entries = int((await session.exec(select(func.count()).select_from(LedgerEntryView))).one())
    return TrialBalance(debits, credits, entries, unbalanced)


async def merchant_day(session: AsyncSession, merchant_id: str, day: date) -> list[ReportLine]:
    """The merchant's money movements on one China-time day, read like ``ops.ledger.merchant_day``."""
    start = datetime.combine(day, time(0), tzinfo=CHINA).astimezone(timezone.utc)
    available, pending = f"merchant_available:{merchant_id}", f"merchant_payout_pending:{merchant_id}"
    orders = set((await session.exec(select(OrderView.order_id).where(OrderView.merchant_id == merchant_id))).all())
    entries = (await session.exec(select(LedgerEntryView).where(
        col(LedgerEntryView.posted_at) >= start, col(LedgerEntryView.posted_at) < start + timedelta(days=1))
        .order_by(col(LedgerEntryView.posted_at)))).all()
    out = []
    for entry in entries:
        lines: dict[str, int] = {}
        for row in (await session.exec(select(LedgerLineView).where(LedgerLineView.entry_id == entry.entry_id))).all():
            lines[row.account] = lines.get(row.account, 0) + row.amount
        if not (available in lines or pending in lines or (entry.kind == "hold_refunded" and entry.order_id in orders)):
            continue
        fee = -lines.get("platform_fees", 0)
        if entry.kind in ("hold_released", "direct_payment"):
            net = -lines.get(available, 0)
            gross = net + fee
        elif entry.kind == "hold_refunded":
            gross, net = -lines.get("escrow_holding", 0), 0
        else:  # payouts, case refunds from its balance: what left or came back to its available balance
            gross, net = 0, -lines.get(available, 0)
        out.append(ReportLine(as_utc(entry.posted_at), entry.kind, entry.entry_id, entry.order_id, gross, fee, net))
    return out


def report_csv(lines: list[ReportLine]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["posted_at", "kind", "entry_id", "order_id", "gross_fen", "fee_fen", "net_fen"])
    for line in lines:
        writer.writerow([line.posted_at.isoformat(), line.kind, line.entry_id, line.order_id or "", line.gross, line.fee, line.net])
    return buffer.getvalue()


def _report_query(request: Request) -> tuple[str, date]:
    merchant_id = request.query_params.get("merchant", "").strip()
    try:
        day = date.fromisoformat(request.query_params.get("day", "")) if request.query_params.get("day") else datetime.now(CHINA).date()
    except ValueError:
        day = datetime.now(CHINA).date()
    return merchant_id, day


def routes(state: WebState) -> list[Route]:
    async def ledger(request: Request, staff: Staff) -> Response:
        async with state.db.transaction() as session:
            accounts = await balances(session)
            trial = await trial_balance(session)
        total = sum(balance for _, _, balance in accounts)
        return render(state, request, "console/ledger.html", staff=staff, accounts=accounts, trial=trial, total=total)

    async def report(request: Request, staff: Staff) -> Response:
        merchant_id, day = _report_query(request)
        lines: list[ReportLine] = []
        if merchant_id:
            require(re.fullmatch(ID_PATTERN, merchant_id) is not None, 400, "refused")
            async with state.db.transaction() as session:
                lines = await merchant_day(session, merchant_id, day)
        totals = (sum(x.gross for x in lines), sum(x.fee for x in lines), sum(x.net for x in lines))
        return render(state, request, "console/report.html", staff=staff, merchant_id=merchant_id, day=day, lines=lines,
                      totals=totals)

    async def report_download(request: Request) -> Response:
        staff_or_403(request, state.settings.session_hours, "operator")
        merchant_id, day = _report_query(request)
        require(re.fullmatch(ID_PATTERN, merchant_id) is not None, 400, "refused")
        async with state.db.transaction() as session:
            lines = await merchant_day(session, merchant_id, day)
        return Response(report_csv(lines), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{merchant_id}-{day.isoformat()}.csv"'})

    return [Route("/console/ledger", staff_page(state, "operator", ledger)),
            Route("/console/reports", staff_page(state, "operator", report)),
            Route("/console/reports.csv", report_download)]
