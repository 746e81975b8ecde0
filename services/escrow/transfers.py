"""Money in and out through the provider and the bank, pure: refunds the provider paid back, late captures
(money the provider collected for an order that could no longer take it: it never becomes a hold, it is owed
straight back to the buyer and refunded through the provider) and merchants' payouts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from services.escrow.ledger import (
    PSP_CLEARING,
    JournalEntry,
    buyer_refunds_payable,
    entry,
    merchant_available,
    merchant_payout_pending,
)
from shared.contracts import psp
from shared.contracts.escrow import LateCaptureBooked, PayoutDeclined, PayoutReserved, RefundPaidOut
from shared.contracts.payments import PaymentCapturedLate
from shared.envelope import Payload
from shared.money import Money

REFUND_PAID_MESSAGE = "退款已原路退回，请留意到账 / Your refund was paid back to where the payment came from"


def refund_paid_out(refund_id: str, order_id: str, buyer_id: str, amount: Money) -> tuple[JournalEntry, RefundPaidOut]:
    """The provider paid the refund to the buyer: the debt is settled from the clearing account."""
    booked = entry("refund_paid_out", order_id, amount.currency,
                   (buyer_refunds_payable(buyer_id), amount.amount), (PSP_CLEARING, -amount.amount))
    return booked, RefundPaidOut(refund_id=refund_id, order_id=order_id, buyer_id=buyer_id, amount=amount,
                                 message=REFUND_PAID_MESSAGE)


class LateCaptureStatus(StrEnum):
    """REFUND_REQUESTED --the provider paid it back--> REFUNDED."""

    REFUND_REQUESTED = "refund_requested"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class LateCapture:
    refund_id: str
    intent_id: str
    order_id: str
    buyer_id: str
    amount: int
    currency: str
    reason: str
    status: LateCaptureStatus = LateCaptureStatus.REFUND_REQUESTED


@dataclass(frozen=True)
class LateCaptureDecision:
    capture: LateCapture
    entry: JournalEntry
    events: list[Payload]
    refund: psp.RefundRequested


def book_late_capture(late: PaymentCapturedLate, already_booked: bool) -> LateCaptureDecision | None:
    """Money the provider collected for an order that could not take it: into the clearing account and owed to
    the buyer in full, with the provider asked to pay it back. Returns None when already booked."""
    if already_booked:
        return None
    amount, currency = late.amount.amount, late.amount.currency
    capture = LateCapture(refund_id=f"RFL-{late.intent_id}", intent_id=late.intent_id, order_id=late.order_id,
                          buyer_id=late.buyer_id, amount=amount, currency=currency, reason=late.reason)
    booked = entry("late_capture", late.order_id, currency,
                   (PSP_CLEARING, amount), (buyer_refunds_payable(late.buyer_id), -amount))
    event = LateCaptureBooked(order_id=late.order_id, intent_id=late.intent_id, buyer_id=late.buyer_id,
                              amount=late.amount, refund_id=capture.refund_id, reason=late.reason)
    refund = psp.RefundRequested(refund_id=capture.refund_id, order_id=late.order_id, amount=late.amount,
                                 buyer_ref=late.buyer_id)
    return LateCaptureDecision(capture, booked, [event], refund)


def late_capture_refunded(capture: LateCapture) -> LateCapture:
    return replace(capture, status=LateCaptureStatus.REFUNDED)


def reserve_payout(payout_id: str, merchant_id: str, amount: Money, available: int) -> tuple[JournalEntry | None, Payload]:
    """Move a withdrawal from available to pending, if the available balance covers it."""
    if amount.amount > available:
        return None, PayoutDeclined(payout_id=payout_id, merchant_id=merchant_id, amount=amount, available=available,
                                    reason="insufficient_balance")
    booked = entry("payout_reserved", None, amount.currency,
                   (merchant_available(merchant_id), amount.amount), (merchant_payout_pending(merchant_id), -amount.amount))
    return booked, PayoutReserved(payout_id=payout_id, merchant_id=merchant_id, amount=amount,
                                  available_after=available - amount.amount)


def payout_paid(merchant_id: str, amount: Money) -> JournalEntry:
    """The bank paid the merchant: the money leaves the platform's clearing account."""
    return entry("payout_paid", None, amount.currency,
                 (merchant_payout_pending(merchant_id), amount.amount), (PSP_CLEARING, -amount.amount))


def payout_returned(merchant_id: str, amount: Money) -> JournalEntry:
    """The bank transfer failed: the reserved money is available again."""
    return entry("payout_returned", None, amount.currency,
                 (merchant_payout_pending(merchant_id), amount.amount), (merchant_available(merchant_id), -amount.amount))
