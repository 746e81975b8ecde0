"""Holds and the double-entry ledger, pure.

Accounts (signed balances, debit > 0, credit < 0; all balances always sum to zero):

- ``psp_clearing``: money the payment provider collected for the platform (asset).
- ``escrow_holding``: guaranteed payments held for buyers and merchants (liability).
- ``merchant_available:<merchant>``: what a merchant may withdraw (liability).
- ``platform_fees``: the platform's fee income.
- ``buyer_refunds_payable:<buyer>``: refunds owed to a buyer until the provider pays them out.
- ``merchant_payout_pending:<merchant>``: withdrawals reserved until the bank pays them out.

A hold settles exactly once: released + refunded = captured. A late capture (money the provider
collected for an order that could no longer take it) never becomes a hold: it is owed straight
back to the buyer and refunded through the provider.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts import psp
from shared.contracts.escrow import (
    ConfirmReceipt,
    HoldCreated,
    HoldRefunded,
    HoldReleased,
    LateCaptureBooked,
    LedgerLine,
    MerchantCredited,
    PayoutDeclined,
    PayoutReserved,
    RecordShipment,
    RefundPaidOut,
    RefundRefused,
    ShipmentRecorded,
)
from shared.contracts.payments import PaymentCapturedLate, PaymentSucceeded
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected

PSP_CLEARING = "psp_clearing"
ESCROW_HOLDING = "escrow_holding"
PLATFORM_FEES = "platform_fees"

REFUND_PAID_MESSAGE = "退款已原路退回，请留意到账 / Your refund was paid back to where the payment came from"


def buyer_refunds_payable(buyer_id: str) -> str:
    return f"buyer_refunds_payable:{buyer_id}"


def merchant_payout_pending(merchant_id: str) -> str:
    return f"merchant_payout_pending:{merchant_id}"


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
    """HELD --ship--> SHIPPED --buyer confirms / auto-confirm--> RELEASED (the buyer may also confirm while HELD);
    HELD --cancellation--> REFUNDED (in full; nothing left to release)."""

    HELD = "held"
    SHIPPED = "shipped"
    RELEASED = "released"
    REFUNDED = "refunded"


SETTLED = {HoldStatus.RELEASED, HoldStatus.REFUNDED}


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
    fee_charged: int = 0
    carrier: str | None = None
    tracking_no: str | None = None
    auto_confirm_at: datetime | None = None

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


@dataclass(frozen=True)
class HoldDecision:
    hold: Hold
    events: list[Payload]
    entry: JournalEntry | None = None


def record_shipment(hold: Hold | None, command: RecordShipment, actor: Actor, now: datetime) -> HoldDecision:
    hold = _require(hold, command.order_id)
    if actor.kind is not ActorKind.MERCHANT or actor.id != hold.merchant_id:
        raise Rejected("wrong_actor", "only the order's merchant may record its shipment", hold.order_id)
    if hold.status is not HoldStatus.HELD:
        raise Rejected("illegal_transition", f"cannot ship a hold that is {hold.status.value}", hold.order_id)
    due = now + timedelta(days=hold.auto_confirm_days)
    shipped = replace(hold, status=HoldStatus.SHIPPED, carrier=command.carrier, tracking_no=command.tracking_no, auto_confirm_at=due)
    return HoldDecision(shipped, [ShipmentRecorded(
        order_id=hold.order_id, hold_id=hold.hold_id, carrier=command.carrier, tracking_no=command.tracking_no, auto_confirm_at=due)])


def confirm_receipt(hold: Hold | None, command: ConfirmReceipt, actor: Actor) -> HoldDecision:
    hold = _require(hold, command.order_id)
    if actor.kind is not ActorKind.BUYER or actor.id != hold.buyer_id:
        raise Rejected("wrong_actor", "only the order's buyer may confirm receipt", hold.order_id)
    return release(hold, "buyer_confirmed")


def auto_confirm(hold: Hold | None, now: datetime) -> HoldDecision:
    """The auto-confirm deadline passed: release, unless the hold moved on meanwhile."""
    if hold is None or hold.status is not HoldStatus.SHIPPED:
        raise Rejected("nothing_to_confirm", "the hold is not awaiting receipt")
    if hold.auto_confirm_at is not None and now < hold.auto_confirm_at:
        raise Rejected("not_due", f"auto-confirm is due at {hold.auto_confirm_at.isoformat()}", hold.order_id)
    return release(hold, "auto_confirmed")


def release_fee(hold: Hold, amount: int) -> int:
    """The fee on releasing ``amount`` of the hold: the payment's fee in proportion, half-up."""
    if amount == hold.captured:
        return hold.fee
    share = (2 * hold.fee * amount + hold.captured) // (2 * hold.captured)
    return min(share, amount)


def release(hold: Hold, reason: str) -> HoldDecision:
    if hold.status in SETTLED:
        raise Rejected("already_settled", f"the hold is already {hold.status.value}", hold.order_id)
    amount = hold.remaining
    if amount <= 0:
        raise Rejected("nothing_held", "nothing remains in the hold", hold.order_id)
    fee = release_fee(hold, amount)
    net = amount - fee
    booked = entry("hold_released", hold.order_id, hold.currency,
                   (ESCROW_HOLDING, amount), (merchant_available(hold.merchant_id), -net), (PLATFORM_FEES, -fee))
    released = replace(hold, status=HoldStatus.RELEASED, released=hold.released + amount, fee_charged=hold.fee_charged + fee)
    event = HoldReleased(
        order_id=hold.order_id, hold_id=hold.hold_id, merchant_id=hold.merchant_id, buyer_id=hold.buyer_id,
        amount=Money(amount=amount, currency=hold.currency), fee=fee, net=net, reason=reason)
    return HoldDecision(released, [event], booked)


def refund_for_cancellation(hold: Hold | None, order_id: str, amount: int, reason: str) -> HoldDecision | RefundRefused:
    """A cancelled order's refund: the whole hold goes back to the buyer, but only before shipment."""
    if hold is None:
        return RefundRefused(order_id=order_id, reason="no_hold")
    if hold.status in SETTLED:
        return RefundRefused(order_id=order_id, reason="already_settled")
    if hold.status is HoldStatus.SHIPPED:
        return RefundRefused(order_id=order_id, reason="already_shipped")
    if amount != hold.remaining:
        return RefundRefused(order_id=order_id, reason="amount_mismatch")
    return refund(hold, amount, reason)


def refund(hold: Hold, amount: int, reason: str) -> HoldDecision:
    """Move ``amount`` from the hold to what the platform owes the buyer; never more than remains."""
    if hold.status in SETTLED:
        raise Rejected("already_settled", f"the hold is already {hold.status.value}", hold.order_id)
    if not 0 < amount <= hold.remaining:
        raise Rejected("invalid_amount", f"refund {amount} is not within the {hold.remaining} still held", hold.order_id)
    booked = entry("hold_refunded", hold.order_id, hold.currency,
                   (ESCROW_HOLDING, amount), (buyer_refunds_payable(hold.buyer_id), -amount))
    refunded = replace(hold, refunded=hold.refunded + amount)
    if refunded.remaining == 0:
        refunded = replace(refunded, status=HoldStatus.REFUNDED)
    event = HoldRefunded(order_id=hold.order_id, hold_id=hold.hold_id, buyer_id=hold.buyer_id,
                         amount=Money(amount=amount, currency=hold.currency), remaining=refunded.remaining, reason=reason)
    return HoldDecision(refunded, [event], booked)


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


def _require(hold: Hold | None, order_id: str) -> Hold:
    if hold is None:
        raise Rejected("hold_not_found", f"no payment is held for order {order_id}", order_id)
    return hold
