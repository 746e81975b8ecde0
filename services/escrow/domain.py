"""Holds and the double-entry ledger, pure.

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

A hold settles exactly once: released + refunded = captured. A late capture (money the provider
collected for an order that could no longer take it) never becomes a hold: it is owed straight
back to the buyer and refunded through the provider.

Cases (owned by the disputes service) move money here too:

- A case **freezes** the order's hold: nothing is released, shipped, confirmed or cancelled while it
  is open, and a shipped hold's auto-confirm countdown is paused; closing the case resumes it where
  it stopped.
- A **case refund** comes from the hold first (``case_refund``: Dr ``escrow_holding``), then from the
  merchant's available balance (Dr ``merchant_available``), both owed to the buyer (Cr
  ``buyer_refunds_payable``) and paid back through the provider; what neither covers is a shortfall.
- **Priority compensation** for a shortfall: the pool pays the buyer first (``compensation_paid``: Dr
  ``compensation_pool``, Cr ``buyer_refunds_payable``, paid through the provider) and the merchant owes
  it back (``recovery_booked``: Dr ``merchant_recovery_receivable``, Cr ``compensation_pool``).
- The insurer's **approval** of the claim covers part or all of what the merchant owes
  (``insurer_claim_approved``: Dr ``insurer_receivable``, Cr ``merchant_recovery_receivable`` up to what
  is owed, Cr ``merchant_available`` for any excess the merchant already repaid), and its **payment**
  settles the receivable (``insurer_claim_paid``: Dr ``psp_clearing``, Cr ``insurer_receivable``).
- What the merchant still owes is **recovered from its later income first**: a release or a direct
  payment credits ``merchant_recovery_receivable`` before ``merchant_available``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts import disputes, psp
from shared.contracts.escrow import (
    CaseRefundExecuted,
    CompensationPaid,
    ConfirmReceipt,
    HoldCreated,
    HoldFrozen,
    HoldRefunded,
    HoldReleased,
    HoldUnfrozen,
    LateCaptureBooked,
    LedgerLine,
    MerchantCredited,
    PayoutDeclined,
    PayoutReserved,
    RecordShipment,
    RecoveryRepaid,
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
COMPENSATION_POOL = "compensation_pool"
INSURER_RECEIVABLE = "insurer_receivable"

REFUND_PAID_MESSAGE = "退款已原路退回，请留意到账 / Your refund was paid back to where the payment came from"


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


class HoldStatus(StrEnum):
    """HELD --ship--> SHIPPED --buyer confirms / auto-confirm--> RELEASED (the buyer may also confirm while HELD);
    HELD --cancellation--> REFUNDED (in full; nothing left to release).

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
    net = amount - payment.fee
    recovered = recovery(net, owed)
    booked = entry(
        "direct_payment", order_id, currency,
        (PSP_CLEARING, amount), (merchant_recovery_receivable(payment.merchant_id), -recovered),
        (merchant_available(payment.merchant_id), -(net - recovered)), (PLATFORM_FEES, -payment.fee),
    )
    credited = MerchantCredited(order_id=order_id, merchant_id=payment.merchant_id, gross=payment.amount, fee=payment.fee,
                                net=net, recovered=recovered)
    return Capture(None, booked, [credited, *_repaid(payment.merchant_id, order_id, currency, recovered, owed)])


def recovery(net: int, owed: int) -> int:
    """How much of a merchant's income ``net`` goes first to repay the compensation it ``owed``."""
    return min(net, max(0, owed))


def _repaid(merchant_id: str, order_id: str, currency: str, recovered: int, owed: int) -> list[Payload]:
    if recovered <= 0:
        return []
    return [RecoveryRepaid(merchant_id=merchant_id, order_id=order_id, amount=Money(amount=recovered, currency=currency),
                           merchant_owes=owed - recovered)]


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
    return HoldDecision(released, [event, *_repaid(hold.merchant_id, hold.order_id, hold.currency, recovered, owed)], booked)


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


# -- cases: freeze, case refunds, priority compensation, insurer claims ------------------------


def freeze(hold: Hold | None, case_id: str, now: datetime) -> HoldDecision | None:
    """A case opened on the order: a held or shipped hold is frozen, a shipped one's countdown paused with
    the whole seconds it had left. Nothing to do (None) without a hold, for a settled one (a case may be
    opened in the after-sale window, after release) or one already frozen."""
    if hold is None or hold.status in SETTLED or hold.frozen_by is not None:
        return None
    paused = None
    if hold.status is HoldStatus.SHIPPED and hold.auto_confirm_at is not None:
        paused = max(0, math.floor((hold.auto_confirm_at - now).total_seconds()))
    frozen = replace(hold, frozen_by=case_id, paused_seconds=paused)
    return HoldDecision(frozen, [HoldFrozen(order_id=hold.order_id, hold_id=hold.hold_id, case_id=case_id,
                                            paused_with_seconds=paused)])


def unfreeze(hold: Hold | None, case_id: str, now: datetime) -> HoldDecision | None:
    """The case closed: the hold it froze is free again, and a shipped hold's countdown resumes with the time it
    had left (due at ``now + paused``). Nothing to do (None) when this case did not freeze it."""
    if hold is None or hold.frozen_by != case_id:
        return None
    due = None
    if hold.status is HoldStatus.SHIPPED and hold.remaining > 0:
        left = hold.paused_seconds if hold.paused_seconds is not None else hold.auto_confirm_days * 86_400
        due = now + timedelta(seconds=left)
    unfrozen = replace(hold, frozen_by=None, paused_seconds=None, auto_confirm_at=due or hold.auto_confirm_at)
    return HoldDecision(unfrozen, [HoldUnfrozen(order_id=hold.order_id, hold_id=hold.hold_id, case_id=case_id,
                                                remaining=unfrozen.remaining, auto_confirm_at=due)])


@dataclass(frozen=True)
class CaseRefund:
    """A case's refund order, executed: the hold after its part (None when it paid none), the ledger entry and
    the provider refund (None when nothing was covered), and the events."""

    hold: Hold | None
    entry: JournalEntry | None
    refund: psp.RefundRequested | None
    events: list[Payload]
    from_hold: int
    from_merchant: int
    shortfall: int


def execute_case_refund(order: disputes.RefundOrdered, hold: Hold | None, available: int) -> CaseRefund:
    """The waterfall: from what remains in the hold (frozen or not), then from the merchant's ``available``
    balance; what neither covers is the shortfall. What is covered is owed to the buyer and asked of the provider."""
    amount, currency = order.amount.amount, order.amount.currency
    events: list[Payload] = []
    refunded: Hold | None = None
    from_hold = 0
    if hold is not None and hold.status not in SETTLED and hold.currency == currency:
        from_hold = min(amount, hold.remaining)
    if hold is not None and from_hold > 0:
        decision = refund(hold, from_hold, "case_refund")
        refunded, events = decision.hold, list(decision.events)
    from_merchant = min(amount - from_hold, max(0, available))
    covered = from_hold + from_merchant
    journal, request = None, None
    if covered > 0:
        journal = entry("case_refund", order.order_id, currency,
                        (ESCROW_HOLDING, from_hold), (merchant_available(order.merchant_id), from_merchant),
                        (buyer_refunds_payable(order.buyer_id), -covered))
        request = psp.RefundRequested(refund_id=f"RF-{order.refund_id}", order_id=order.order_id,
                                      amount=Money(amount=covered, currency=currency), buyer_ref=order.buyer_id)
    events.append(CaseRefundExecuted(
        refund_id=order.refund_id, case_id=order.case_id, order_id=order.order_id, buyer_id=order.buyer_id,
        merchant_id=order.merchant_id, amount=order.amount, from_hold=from_hold, from_merchant=from_merchant,
        shortfall=amount - covered, provider_refund_id=request.refund_id if request else None))
    return CaseRefund(refunded, journal, request, events, from_hold, from_merchant, amount - covered)


@dataclass(frozen=True)
class Compensation:
    paid: JournalEntry
    recovery: JournalEntry
    refund: psp.RefundRequested
    event: CompensationPaid


def grant_compensation(granted: disputes.CompensationGranted, owed: int) -> Compensation | None:
    """Priority compensation: the pool pays the buyer (through the provider) and the merchant, which ``owed``
    that much before, owes it back. None when nothing is granted."""
    amount, currency = granted.amount.amount, granted.amount.currency
    if amount <= 0:
        return None
    paid = entry("compensation_paid", granted.order_id, currency,
                 (COMPENSATION_POOL, amount), (buyer_refunds_payable(granted.buyer_id), -amount))
    recovery_ = entry("recovery_booked", granted.order_id, currency,
                      (merchant_recovery_receivable(granted.merchant_id), amount), (COMPENSATION_POOL, -amount))
    request = psp.RefundRequested(refund_id=f"RF-{granted.compensation_id}", order_id=granted.order_id,
                                  amount=granted.amount, buyer_ref=granted.buyer_id)
    event = CompensationPaid(
        compensation_id=granted.compensation_id, case_id=granted.case_id, order_id=granted.order_id,
        buyer_id=granted.buyer_id, merchant_id=granted.merchant_id, amount=granted.amount,
        provider_refund_id=request.refund_id, merchant_owes=owed + amount)
    return Compensation(paid, recovery_, request, event)


def claim_approved(decision: disputes.ClaimDecisionRecorded, owed: int) -> JournalEntry | None:
    """The insurer approved a claim: it owes the platform that much, which covers what the merchant ``owed``;
    any excess (the merchant already repaid) goes back to the merchant's available balance."""
    approved, currency = decision.approved.amount, decision.approved.currency
    if approved <= 0:
        return None
    covered = min(approved, max(0, owed))
    return entry("insurer_claim_approved", decision.order_id, currency,
                 (INSURER_RECEIVABLE, approved), (merchant_recovery_receivable(decision.merchant_id), -covered),
                 (merchant_available(decision.merchant_id), -(approved - covered)))


def claim_paid(payment: disputes.ClaimPaymentRecorded) -> JournalEntry | None:
    """The insurer paid a claim: the money came in, its receivable is settled."""
    if payment.amount.amount <= 0:
        return None
    return entry("insurer_claim_paid", payment.order_id, payment.amount.currency,
                 (PSP_CLEARING, payment.amount.amount), (INSURER_RECEIVABLE, -payment.amount.amount))


def _require(hold: Hold | None, order_id: str) -> Hold:
    if hold is None:
        raise Rejected("hold_not_found", f"no payment is held for order {order_id}", order_id)
    return hold


def _require_unfrozen(hold: Hold) -> None:
    if hold.frozen_by is not None:
        raise Rejected("hold_frozen", f"case {hold.frozen_by} is open on this order", hold.order_id)

