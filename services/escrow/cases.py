"""The money side of dispute cases (owned by the disputes service), pure.

- A case **freezes** the order's hold: nothing is released, shipped, confirmed or cancelled while it
  is open, and a shipped hold's auto-confirm countdown is paused; closing the case resumes it where
  it stopped. A direct (non-guaranteed) payment is marked frozen the same way: it neither ships nor is
  refunded for a cancellation while a case is open on it.
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

from services.escrow.holds import SETTLED, Hold, HoldDecision, HoldStatus, refund
from services.escrow.ledger import (
    COMPENSATION_POOL,
    ESCROW_HOLDING,
    INSURER_RECEIVABLE,
    PSP_CLEARING,
    JournalEntry,
    buyer_refunds_payable,
    entry,
    merchant_available,
    merchant_recovery_receivable,
)
from shared.contracts import disputes, psp
from shared.contracts.escrow import CaseRefundExecuted, CompensationPaid, HoldFrozen, HoldUnfrozen
from shared.envelope import Payload
from shared.money import Money


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
