"""Holds and the double-entry ledger, pure.

Accounts (signed balances, debit > 0, credit < 0; all balances always sum to zero):

- ``psp_clearing``: money the payment provider collected for the platform (asset).
- ``escrow_holding``: guaranteed payments held for buyers and merchants (liability).
- ``merchant_available:<merchant>``: what a merchant may withdraw (liability).
- ``platform_fees``: the platform's fee income.

A hold settles exactly once: released + refunded = captured.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.contracts.escrow import HoldCreated, LedgerLine, MerchantCredited
from shared.contracts.payments import PaymentSucceeded
from shared.envelope import Payload

PSP_CLEARING = "psp_clearing"
ESCROW_HOLDING = "escrow_holding"
PLATFORM_FEES = "platform_fees"


def merchant_available(merchant_id: str) -> str:
    return f"merchant_available:{merchant_id}"


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


class HoldStatus(StrEnum):
    HELD = "held"


@dataclass(frozen=True)
class Hold:
    hold_id: str
    order_id: str
    merchant_id: str
    buyer_id: str
    captured: int
    currency: str
    fee: int
    auto_confirm_days: int
    status: HoldStatus = HoldStatus.HELD
    released: int = 0
    refunded: int = 0

    @property
    def remaining(self) -> int:
        return self.captured - self.released - self.refunded


@dataclass(frozen=True)
class Capture:
    hold: Hold | None
    entry: JournalEntry
    events: list[Payload]


def capture(payment: PaymentSucceeded, already_captured: bool) -> Capture | None:
    """Book a successful payment: into a hold when guaranteed, else straight to the merchant less the fee.

    Returns None when this order's payment was already booked (a repeated event changes nothing).
    """
    if already_captured:
        return None
    amount, currency, order_id = payment.amount.amount, payment.amount.currency, payment.order_id
    if payment.fee > amount:
        raise UnbalancedEntry(f"fee {payment.fee} exceeds amount {amount}")
    if payment.guaranteed:
        hold = Hold(
            hold_id=f"H-{order_id}", order_id=order_id, merchant_id=payment.merchant_id, buyer_id=payment.buyer_id,
            captured=amount, currency=currency, fee=payment.fee, auto_confirm_days=payment.auto_confirm_days,
        )
        booked = entry("payment_held", order_id, currency, (PSP_CLEARING, amount), (ESCROW_HOLDING, -amount))
        created = HoldCreated(
            hold_id=hold.hold_id, order_id=order_id, merchant_id=hold.merchant_id, buyer_id=hold.buyer_id,
            amount=payment.amount, fee=hold.fee, auto_confirm_days=hold.auto_confirm_days,
        )
        return Capture(hold, booked, [created])
    net = amount - payment.fee
    booked = entry(
        "direct_payment", order_id, currency,
        (PSP_CLEARING, amount), (merchant_available(payment.merchant_id), -net), (PLATFORM_FEES, -payment.fee),
    )
    credited = MerchantCredited(order_id=order_id, merchant_id=payment.merchant_id, gross=payment.amount, fee=payment.fee, net=net)
    return Capture(None, booked, [credited])
