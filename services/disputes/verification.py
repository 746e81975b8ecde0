"""After an outcome, pure: the three-day verification (seed 05), the buyer's feedback, and escrow's
execution of refund orders with priority compensation for a shortfall (seed 04)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from services.disputes.cases import (
    CHINA,
    MERCHANT_DEADLINE,
    Case,
    CaseDecision,
    OrderView,
    Policy,
    Timer,
    _amount,
    _in,
    _is,
    _require,
    close,
    only,
)
from shared.contracts import disputes as c
from shared.contracts import insurer
from shared.contracts.disputes import CaseStatus
from shared.envelope import Actor, ActorKind, Payload
from shared.unit_of_work import Rejected


def submit_feedback(case: Case | None, command: c.SubmitFeedback, actor: Actor, order: OrderView, now: datetime,
                    policy: Policy) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may give feedback", case.case_id)
    _in(case, CaseStatus.VERIFYING)
    received = c.FeedbackReceived(**case.parties(), satisfied=command.satisfied, comment=command.comment)
    if command.satisfied:
        return CaseDecision(replace(case, satisfied=True), [received])
    assert command.requested is not None
    requested = _amount(case, command.requested, order.refundable)
    respond_by = now + policy.merchant_response
    reopened = replace(case, status=CaseStatus.AWAITING_MERCHANT, round=case.round + 1, requested=requested,
                       respond_by=respond_by, satisfied=False, verified=None, verify_started_at=None)
    return CaseDecision(reopened, [received, c.CaseReopened(**case.parties(), round=reopened.round,
                                                            requested=case.money(requested), respond_by=respond_by)],
                        only(Timer(MERCHANT_DEADLINE, respond_by)))


def verification_day(case: Case | None, day: int, now: datetime) -> CaseDecision:
    """Day 1: the ledger shows the refunds ordered; day 2: ask the buyer; day 3: final."""
    if case is None or case.status is not CaseStatus.VERIFYING:
        raise Rejected("nothing_due", "the case is not being verified")
    expected, booked = case.money(case.ordered), case.money(case.refunded)
    if day == 1:
        verified = case.refunded == case.ordered
        return CaseDecision(replace(case, verified=verified), [c.RefundVerified(**case.parties(), expected=expected,
                                                                                booked=booked, verified=verified)])
    if day == 2:
        assert case.verify_started_at is not None
        return CaseDecision(case, [c.FeedbackRequested(**case.parties(), answer_by=case.verify_started_at + timedelta(days=3))])
    verified = case.refunded == case.ordered  # checked again: a refund booked after day 1 counts
    events: list[Payload] = []
    if verified and not case.verified:
        events.append(c.RefundVerified(**case.parties(), expected=expected, booked=booked, verified=True))
    return close(replace(case, verified=verified), "resolved" if verified else "unverified", events)


def compensation_id(refund_id_: str) -> str:
    return "CP-" + refund_id_.removeprefix("CR-")


def claim_id(refund_id_: str) -> str:
    return "CL-" + refund_id_.removeprefix("CR-")


def refund_executed(case: Case, executed_refund_id: str, from_hold: int, from_merchant: int, shortfall: int,
                    reason: str, buyer_year_total: int, policy: Policy) -> CaseDecision:
    """Escrow executed a refund order; a shortfall is covered by priority compensation within the caps."""
    case = replace(case, refunded=case.refunded + from_hold + from_merchant)
    if shortfall <= 0:
        return CaseDecision(case, [])
    room = max(0, min(policy.case_cap - case.compensated, policy.buyer_yearly_cap - buyer_year_total))
    amount = min(shortfall, room)
    if amount == 0:
        return CaseDecision(case, [])
    compensation = compensation_id(executed_refund_id)
    claim = claim_id(executed_refund_id)
    granted = c.CompensationGranted(**case.parties(), compensation_id=compensation, refund_id=executed_refund_id,
                                    amount=case.money(amount), shortfall=shortfall, uncovered=shortfall - amount,
                                    claim_id=claim)
    filed = insurer.ClaimFiled(claim_id=claim, case_id=case.case_id, order_id=case.order_id, merchant_id=case.merchant_id,
                               amount=case.money(amount), reason=reason)
    compensated = replace(case, compensated=case.compensated + amount, refunded=case.refunded + amount)
    return CaseDecision(compensated, [granted], claim=filed)


def year_of(now: datetime) -> int:
    """The calendar year (China time) a compensation counts against the buyer's yearly cap."""
    return now.astimezone(CHINA).year
