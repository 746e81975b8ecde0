"""Holds, pure: a guaranteed payment held until the buyer confirms receipt after shipment, or the
auto-confirm deadline passes, or a cancellation before shipment refunds it.

A hold settles exactly once: released + refunded = captured. A payment without the guarantee never
becomes a hold: it is credited to the merchant at once (see ``direct``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.escrow.direct import DirectPayment, credit
from services.escrow.ledger import (
    ESCROW_HOLDING,
    PLATFORM_FEES,
    PSP_CLEARING,
    JournalEntry,
    UnbalancedEntry,
    buyer_refunds_payable,
    entry,
    merchant_available,
    merchant_recovery_receivable,
    recovery,
    repaid,
)
from shared.contracts.escrow import (
    ConfirmReceipt,
    HoldCreated,
    HoldRefunded,
    HoldReleased,
    RecordShipment,
    RefundRefused,
    ShipmentRecorded,
)
from shared.contracts.payments import PaymentSucceeded
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected


class HoldStatus(StrEnum):
    """HELD --ship--> SHIPPED --buyer confirms / auto-confirm--> RELEASED;
    HELD --cancellation--> REFUNDED (in full; nothing left to release).

    Receipt is confirmed only after shipment: a buyer confirming a HELD hold is refused ``not_shipped`` (the
    "confirm now and I will ship" scam pays nobody), and auto-confirm is only ever set by a shipment.

    Orthogonally a HELD or SHIPPED hold may be frozen by a case (``frozen_by``): it then neither ships, nor
    releases, nor refunds for a cancellation, and a shipped hold's countdown is paused (``paused_seconds``)
    until the case closes. Case refunds may still take from a frozen hold, down to REFUNDED."""

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
    frozen_by: str | None = None
    paused_seconds: int | None = None

    @property
    def remaining(self) -> int:
        return self.captured - self.released - self.refunded


@dataclass(frozen=True)
class Capture:
    hold: Hold | None
    entry: JournalEntry
    events: list[Payload]
    direct: DirectPayment | None = None


def capture(payment: PaymentSucceeded, already_captured: bool, owed: int = 0) -> Capture | None:
    """Book a successful payment: into a hold when guaranteed, else straight to the merchant less the fee
    (repaying first what the merchant ``owed`` for priority compensation).

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
    credited = credit(payment, owed)
    return Capture(None, credited.entry, credited.events, credited.payment)


@dataclass(frozen=True)
class HoldDecision:
    hold: Hold
    events: list[Payload]
    entry: JournalEntry | None = None


def record_shipment(hold: Hold | None, command: RecordShipment, actor: Actor, now: datetime) -> HoldDecision:
    hold = _require(hold, command.order_id)
    if actor.kind is not ActorKind.MERCHANT or actor.id != hold.merchant_id:
        raise Rejected("forbidden", "only the order's merchant may record its shipment", hold.order_id)
    _require_unfrozen(hold)
    if hold.status is not HoldStatus.HELD:
        raise Rejected("illegal_transition", f"cannot ship a hold that is {hold.status.value}", hold.order_id)
    due = now + timedelta(days=hold.auto_confirm_days)
    shipped = replace(hold, status=HoldStatus.SHIPPED, carrier=command.carrier, tracking_no=command.tracking_no, auto_confirm_at=due)
    return HoldDecision(shipped, [ShipmentRecorded(
        order_id=hold.order_id, hold_id=hold.hold_id, carrier=command.carrier, tracking_no=command.tracking_no, auto_confirm_at=due)])


def confirm_receipt(hold: Hold | None, command: ConfirmReceipt, actor: Actor, owed: int = 0) -> HoldDecision:
    hold = _require(hold, command.order_id)
    if actor.kind is not ActorKind.BUYER or actor.id != hold.buyer_id:
        raise Rejected("forbidden", "only the order's buyer may confirm receipt", hold.order_id)
    _require_unfrozen(hold)
    if hold.status is HoldStatus.HELD:
        raise Rejected("not_shipped", "receipt can be confirmed only after the merchant recorded the shipment",
                       hold.order_id)
    return release(hold, "buyer_confirmed", owed)


def auto_confirm(hold: Hold | None, now: datetime, owed: int = 0) -> HoldDecision:
    """The auto-confirm deadline passed: release, unless the hold moved on (or was frozen) meanwhile."""
    if hold is None or hold.status is not HoldStatus.SHIPPED:
        raise Rejected("nothing_to_confirm", "the hold is not awaiting receipt")
    _require_unfrozen(hold)
    if hold.auto_confirm_at is not None and now < hold.auto_confirm_at:
        raise Rejected("not_due", f"auto-confirm is due at {hold.auto_confirm_at.isoformat()}", hold.order_id)
    return release(hold, "auto_confirmed", owed)


def release_fee(hold: Hold, amount: int) -> int:
    """The fee on releasing ``amount`` of the hold: the payment's fee in proportion, half-up."""
    if amount == hold.captured:
        return hold.fee
    share = (2 * hold.fee * amount + hold.captured) // (2 * hold.captured)
    return min(share, amount)


def release(hold: Hold, reason: str, owed: int = 0) -> HoldDecision:
    """Release what remains to the merchant less the fee; what the merchant ``owed`` for priority
    compensation is repaid from the net first."""
    if hold.status in SETTLED:
        raise Rejected("already_settled", f"the hold is already {hold.status.value}", hold.order_id)
    _require_unfrozen(hold)
    amount = hold.remaining
    if amount <= 0:
        raise Rejected("nothing_held", "nothing remains in the hold", hold.order_id)
    fee = release_fee(hold, amount)
    net = amount - fee
    recovered = recovery(net, owed)
    booked = entry("hold_released", hold.order_id, hold.currency,
                   (ESCROW_HOLDING, amount), (merchant_recovery_receivable(hold.merchant_id), -recovered),
                   (merchant_available(hold.merchant_id), -(net - recovered)), (PLATFORM_FEES, -fee))
    released = replace(hold, status=HoldStatus.RELEASED, released=hold.released + amount, fee_charged=hold.fee_charged + fee)
    event = HoldReleased(
        order_id=hold.order_id, hold_id=hold.hold_id, merchant_id=hold.merchant_id, buyer_id=hold.buyer_id,
        amount=Money(amount=amount, currency=hold.currency), fee=fee, net=net, reason=reason, recovered=recovered)
    return HoldDecision(released, [event, *repaid(hold.merchant_id, hold.order_id, hold.currency, recovered, owed)], booked)


def refund_for_cancellation(hold: Hold | None, order_id: str, amount: int, reason: str) -> HoldDecision | RefundRefused:
    """A cancelled order's refund: the whole hold goes back to the buyer, but only before shipment."""
    if hold is None:
        return RefundRefused(order_id=order_id, reason="no_hold")
    if hold.status in SETTLED:
        return RefundRefused(order_id=order_id, reason="already_settled")
    if hold.frozen_by is not None:
        return RefundRefused(order_id=order_id, reason="case_open")
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


def _require(hold: Hold | None, order_id: str) -> Hold:
    if hold is None:
        raise Rejected("hold_not_found", f"no payment is held for order {order_id}", order_id)
    return hold


def _require_unfrozen(hold: Hold) -> None:
    if hold.frozen_by is not None:
        raise Rejected("hold_frozen", f"case {hold.frozen_by} is open on this order", hold.order_id)

