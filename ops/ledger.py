"""Reading escrow's ledger for operators: balances and the trial balance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlmodel import col, func, select

from services.escrow.config import EscrowSettings
from services.escrow.store import HoldRow, JournalEntryRow, JournalLineRow, balances, has_running_balance, running_balances
from ops.stores import service_database
from shared.business_days import CHINA
from shared.db import Database
from shared.timers import as_utc


def escrow_database() -> Database:
    return service_database("escrow", EscrowSettings())


@dataclass
class TrialBalance:
    debits: dict[str, int] = field(default_factory=dict)   # by currency
    credits: dict[str, int] = field(default_factory=dict)
    entries: int = 0
    unbalanced_entries: list[str] = field(default_factory=list)
    hold_problems: list[str] = field(default_factory=list)
    running_balance_problems: list[str] = field(default_factory=list)  # a party's running balance ≠ its journal

    @property
    def problems(self) -> list[str]:
        """Everything that does not add up, one line each."""
        totals = [f"{c}: debits {self.debits.get(c, 0)} ≠ credits {self.credits.get(c, 0)}"
                  for c in sorted({*self.debits, *self.credits}) if self.debits.get(c, 0) != self.credits.get(c, 0)]
        return [*self.unbalanced_entries, *self.hold_problems, *self.running_balance_problems, *totals]

    @property
    def balanced(self) -> bool:
        return not self.problems


async def read_balances(db: Database) -> dict[tuple[str, str], int]:
    async with db.transaction() as session:
        return await balances(session)


async def trial_balance(db: Database) -> TrialBalance:
    """Debits equal credits overall and within every entry; every hold adds up and none is negative."""
    result = TrialBalance()
    async with db.transaction() as session:
        per_entry = await session.exec(
            select(JournalLineRow.entry_id, JournalLineRow.currency, func.sum(JournalLineRow.amount))
            .group_by(JournalLineRow.entry_id, JournalLineRow.currency))
        result.unbalanced_entries = [entry_id for entry_id, _, total in per_entry.all() if total != 0]
        result.entries = (await session.exec(select(func.count()).select_from(JournalEntryRow))).one()
        for _, currency, amount in (await session.exec(
                select(JournalLineRow.account, JournalLineRow.currency, JournalLineRow.amount))).all():
            side = result.debits if amount > 0 else result.credits
            side[currency] = side.get(currency, 0) + abs(amount)
        held = 0
        for hold in (await session.exec(select(HoldRow))).all():
            remaining = hold.captured - hold.released - hold.refunded
            held += remaining
            if remaining < 0:
                result.hold_problems.append(f"{hold.hold_id}: released {hold.released} + refunded {hold.refunded} > captured {hold.captured}")
            if hold.status in ("released", "refunded") and remaining != 0:
                result.hold_problems.append(f"{hold.hold_id}: {hold.status} with {remaining} still held")
        summed = await balances(session)
        escrow_balance = sum(v for (account, _), v in summed.items() if account == "escrow_holding")
        if escrow_balance != -held:
            result.hold_problems.append(f"escrow_holding is {escrow_balance} but the holds keep {held}")
        running = await running_balances(session)
        for key in sorted({*running, *(k for k in summed if has_running_balance(k[0]))}):
            if running.get(key, 0) != summed.get(key, 0):
                result.running_balance_problems.append(
                    f"{key[0]} ({key[1]}): running balance {running.get(key, 0)}, journal {summed.get(key, 0)}")
    return result


@dataclass
class StatementLine:
    posted_at: datetime
    kind: str
    reference: str
    order_id: str | None
    gross: int
    fee: int
    net: int


async def merchant_day(db: Database, merchant_id: str, day: date) -> list[StatementLine]:
    """A merchant's money movements on one China-time day (the seeds' 收款记录 and 财务报表):
    receipts less fees, refunds from its holds, and payouts."""
    start = datetime.combine(day, time(0), tzinfo=CHINA).astimezone(timezone.utc)
    end = start + timedelta(days=1)
    available, pending = f"merchant_available:{merchant_id}", f"merchant_payout_pending:{merchant_id}"
    out: list[StatementLine] = []
    async with db.transaction() as session:
        orders = set((await session.exec(select(HoldRow.order_id).where(HoldRow.merchant_id == merchant_id))).all())
        entries = (await session.exec(select(JournalEntryRow).where(
            col(JournalEntryRow.posted_at) >= start, col(JournalEntryRow.posted_at) < end)
            .order_by(col(JournalEntryRow.posted_at)))).all()
        for entry in entries:
            lines = {row.account: row.amount for row in (await session.exec(
                select(JournalLineRow).where(JournalLineRow.entry_id == entry.entry_id))).all()}
            mine = available in lines or pending in lines or (entry.kind == "hold_refunded" and entry.order_id in orders)
            if not mine:
                continue
            fee = -lines.get("platform_fees", 0)
            if entry.kind in ("hold_released", "direct_payment"):
                net = -lines[available] if available in lines else 0
                gross = net + fee
            elif entry.kind == "hold_refunded":
                gross, net = -lines.get("escrow_holding", 0), 0
            else:  # payouts: reserved (-), returned (+), paid (leaves pending)
                gross = 0
                net = -lines.get(available, 0)
            out.append(StatementLine(as_utc(entry.posted_at), entry.kind, entry.reference, entry.order_id, gross, fee, net))
    return out
