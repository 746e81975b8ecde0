"""Reading escrow's ledger for operators: balances and the trial balance."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import func, select

from services.escrow.config import EscrowSettings
from services.escrow.store import HoldRow, JournalEntryRow, JournalLineRow, balances
from ops.stores import service_database
from shared.db import Database


def escrow_database() -> Database:
    return service_database("escrow", EscrowSettings())


@dataclass
class TrialBalance:
    debits: dict[str, int] = field(default_factory=dict)   # by currency
    credits: dict[str, int] = field(default_factory=dict)
    entries: int = 0
    unbalanced_entries: list[str] = field(default_factory=list)
    hold_problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return (not self.unbalanced_entries and not self.hold_problems
                and all(self.debits.get(c, 0) == self.credits.get(c, 0) for c in {*self.debits, *self.credits}))


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
        escrow_balance = sum(v for (account, _), v in (await balances(session)).items() if account == "escrow_holding")
        if escrow_balance != -held:
            result.hold_problems.append(f"escrow_holding is {escrow_balance} but the holds keep {held}")
    return result
