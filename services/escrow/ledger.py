"""The double-entry ledger's accounts and journal entries, pure.

Accounts (signed balances, debit > 0, credit < 0; all balances always sum to zero):

- ``psp_clearing``: money the payment provider collected for the platform (asset).
- ``escrow_holding``: guaranteed payments held for buyers and merchants (liability).
- ``merchant_available:<merchant>``: what a merchant may withdraw (liability).
- ``platform_fees``: the platform's fee income.
- ``buyer_refunds_payable:<buyer>``: refunds owed to a buyer until the provider pays them out.
- ``merchant_payout_pending:<merchant>``: withdrawals reserved until the bank pays them out.
- ``compensation_pool``: the insurer-backed pool priority compensation is paid from. It is only a
  passage: each payment from it is at once booked as owed by the merchant, so it nets to zero.
- ``merchant_recovery_receivable:<merchant>``: priority compensation a merchant owes back (asset).
- ``insurer_receivable``: claims the insurer approved and has not paid yet (asset).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.escrow import LedgerLine, RecoveryRepaid
from shared.envelope import Payload
from shared.money import Money

PSP_CLEARING = "psp_clearing"
ESCROW_HOLDING = "escrow_holding"
PLATFORM_FEES = "platform_fees"
COMPENSATION_POOL = "compensation_pool"
INSURER_RECEIVABLE = "insurer_receivable"


def buyer_refunds_payable(buyer_id: str) -> str:
    return f"buyer_refunds_payable:{buyer_id}"


def merchant_payout_pending(merchant_id: str) -> str:
    return f"merchant_payout_pending:{merchant_id}"


def merchant_available(merchant_id: str) -> str:
    return f"merchant_available:{merchant_id}"


def merchant_recovery_receivable(merchant_id: str) -> str:
    return f"merchant_recovery_receivable:{merchant_id}"


class UnbalancedEntry(ValueError):
    """A journal entry whose lines do not sum to zero, or that moves nothing."""


@dataclass(frozen=True)
class JournalEntry:
    kind: str
    order_id: str | None
    currency: str
    lines: tuple[LedgerLine, ...]

    def __post_init__(self) -> None:
        if len(self.lines) < 2:
            raise UnbalancedEntry("an entry needs at least two lines")
        if sum(line.amount for line in self.lines) != 0:
            raise UnbalancedEntry(f"{self.kind} lines sum to {sum(line.amount for line in self.lines)}")
        if any(line.amount == 0 for line in self.lines):
            raise UnbalancedEntry("a line must move money")


def entry(kind: str, order_id: str | None, currency: str, *lines: tuple[str, int]) -> JournalEntry:
    """A balanced entry from ``(account, signed amount)`` pairs; zero-amount pairs are dropped."""
    kept = tuple(LedgerLine(account=a, amount=n) for a, n in lines if n != 0)
    return JournalEntry(kind=kind, order_id=order_id, currency=currency, lines=kept)


def recovery(net: int, owed: int) -> int:
    """How much of a merchant's income ``net`` goes first to repay the compensation it ``owed``."""
    return min(net, max(0, owed))


def repaid(merchant_id: str, order_id: str, currency: str, recovered: int, owed: int) -> list[Payload]:
    """The event telling that ``recovered`` of a merchant's income repaid what it ``owed`` (none when nothing did)."""
    if recovered <= 0:
        return []
    return [RecoveryRepaid(merchant_id=merchant_id, order_id=order_id, amount=Money(amount=recovered, currency=currency),
                           merchant_owes=owed - recovered)]
