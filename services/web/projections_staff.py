"""Disputes', onboarding's and the control topic's events, and every service's dead letters, into the edge's
read models: cases (for the buyer and the case desk), applications (the review queue), dead letters, the roster."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from services.web.projections import Handler, _known, add_step, command_rejected
from services.web.store import CaseView, DeadLetterView, MerchantView, StaffRole
from shared.envelope import Envelope
from shared.unit_of_work import UnitOfWork

# -- cases ---------------------------------------------------------------------------------------


async def case_opened(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    add_step(uow, envelope, data.order_id)
    if await uow.session.get(CaseView, data.case_id) is not None:
        return
    evidence = [{**e.model_dump(mode="json"), "party": "buyer"} for e in data.evidence]
    uow.session.add(CaseView(
        case_id=data.case_id, order_id=data.order_id, buyer_id=data.buyer_id, merchant_id=data.merchant_id,
        reason=data.reason.value, description=data.description[:2000], currency=data.requested.currency,
        requested=data.requested.amount, paid=data.paid.amount, respond_by=data.respond_by,
        evidence=json.dumps(evidence, ensure_ascii=False), opened_at=envelope.occurred_at, updated_at=envelope.occurred_at))


def case_step(change: Any = None) -> Handler:
    """Record the event as a step of the case's order; apply ``change(case, data)`` to the case."""

    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        data = envelope.data
        add_step(uow, envelope, data.order_id)
        case = await uow.session.get(CaseView, data.case_id)
        if case is not None and change is not None:
            change(case, data)
            case.updated_at = envelope.occurred_at
            uow.session.add(case)

    return handle


def _evidence(case: CaseView, data: Any) -> None:
    known = {e["sha256"] for e in case.evidence_list()}
    added = [{**e.model_dump(mode="json"), "party": data.party} for e in data.evidence if e.sha256 not in known]
    case.evidence = json.dumps(case.evidence_list() + added, ensure_ascii=False)


def _responded(case: CaseView, data: Any) -> None:
    case.round = data.round
    if data.response.value == "counter_offer":
        case.status, case.counter_offer = "awaiting_buyer", data.amount.amount


def _answered(case: CaseView, data: Any) -> None:
    case.counter_offer = None
    if not data.accepted:
        case.status, case.respond_by = "awaiting_merchant", data.respond_by


def _agreed(case: CaseView, data: Any) -> None:
    case.status, case.agreed_amount, case.counter_offer = "agreed", data.amount.amount, None


def _failed(case: CaseView, data: Any) -> None:
    case.status, case.escalate_by = "negotiation_failed", data.escalate_by


def _escalated(case: CaseView, data: Any) -> None:
    case.status, case.rule_by = "in_arbitration", data.rule_by
    case.proposal = data.proposal.model_dump_json() if data.proposal else None


def _overdue(case: CaseView, data: Any) -> None:
    case.overdue, case.default_ruling_at = True, data.default_ruling_at


def _return_requested(case: CaseView, data: Any) -> None:
    case.status, case.return_by = "awaiting_return", data.return_by


def _return_shipped(case: CaseView, data: Any) -> None:
    case.status, case.confirm_by, case.return_tracking = "return_in_transit", data.confirm_by, f"{data.carrier} {data.tracking_no}"[:140]


def _ruled(case: CaseView, data: Any) -> None:
    case.status, case.decision, case.ruled_amount, case.overdue = "ruled", data.decision.value, data.amount.amount, False
    case.ruling_reasons, case.arbitrator_id = data.reasons[:2000], data.arbitrator_id


def _verifying(case: CaseView, data: Any) -> None:
    case.status = "verifying"


def _feedback_requested(case: CaseView, data: Any) -> None:
    case.feedback_until = data.answer_by


def _feedback(case: CaseView, data: Any) -> None:
    case.satisfied, case.feedback_until = data.satisfied, None


def _reopened(case: CaseView, data: Any) -> None:
    case.status, case.round, case.requested, case.respond_by = "awaiting_merchant", data.round, data.requested.amount, data.respond_by
    case.satisfied = None


def _closed(case: CaseView, data: Any) -> None:
    case.status, case.outcome, case.refunded, case.feedback_until = "closed", data.outcome, data.refunded.amount, None


def disputes_handlers(types: Iterable[str]) -> dict[str, Handler]:
    return _known({
        "disputes.case.opened": case_opened,
        "disputes.evidence.added": case_step(_evidence),
        "disputes.case.merchant_responded": case_step(_responded),
        "disputes.counter_offer.answered": case_step(_answered),
        "disputes.negotiation.agreed": case_step(_agreed),
        "disputes.negotiation.failed": case_step(_failed),
        "disputes.case.escalated": case_step(_escalated),
        "disputes.case.arbitration_overdue": case_step(_overdue),
        "disputes.case.ruled": case_step(_ruled),
        "disputes.return.requested": case_step(_return_requested),
        "disputes.return.shipped": case_step(_return_shipped),
        "disputes.return.received": case_step(),
        "disputes.refund.ordered": case_step(),
        "disputes.compensation.granted": case_step(),
        "disputes.claim.decided": case_step(),
        "disputes.claim.paid": case_step(),
        "disputes.verification.started": case_step(_verifying),
        "disputes.verification.refund_checked": case_step(),
        "disputes.verification.feedback_requested": case_step(_feedback_requested),
        "disputes.feedback.received": case_step(_feedback),
        "disputes.case.reopened": case_step(_reopened),
        "disputes.case.closed": case_step(_closed),
        "disputes.command.rejected": command_rejected,
    }, types)


# -- merchants and their applications ------------------------------------------------------------


def merchant_change(change: Any) -> Handler:
    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        data = envelope.data
        merchant = await uow.session.get(MerchantView, data.merchant_id) or MerchantView(merchant_id=data.merchant_id)
        change(merchant, data, envelope)
        uow.session.add(merchant)

    return handle


def _received(m: MerchantView, data: Any, envelope: Envelope) -> None:
    m.name, m.merchant_type, m.credit_code, m.industry = data.legal_name, data.merchant_type.value, data.credit_code, data.industry
    m.phone_masked, m.email_masked, m.status, m.applied_at = data.phone_masked, data.email_masked, "checking", envelope.occurred_at
    m.escalated, m.due_at, m.decided_by, m.review_reasons, m.decision_reasons = False, None, None, "[]", "[]"


def _checked(m: MerchantView, data: Any, envelope: Envelope) -> None:
    m.checks = json.dumps([c.model_dump(mode="json") for c in data.checks], ensure_ascii=False)
    m.risk_score = data.risk_score


def _review(m: MerchantView, data: Any, envelope: Envelope) -> None:
    m.status, m.review_reasons, m.due_at = "review", json.dumps(data.reasons, ensure_ascii=False), data.due_at


def _escalated_review(m: MerchantView, data: Any, envelope: Envelope) -> None:
    m.escalated = True


def _decided(status: str) -> Any:
    def change(m: MerchantView, data: Any, envelope: Envelope) -> None:
        m.status, m.decided_by = status, getattr(data, "by", None)
        if hasattr(data, "reasons"):
            m.decision_reasons = json.dumps(data.reasons, ensure_ascii=False)
        if hasattr(data, "verified"):
            m.verified = data.verified

    return change


def _activated(m: MerchantView, data: Any, envelope: Envelope) -> None:
    m.status, m.verified, m.industry = "active", data.verified, data.industry


def onboarding_handlers(types: Iterable[str]) -> dict[str, Handler]:
    return _known({
        "onboarding.application.received": merchant_change(_received),
        "onboarding.checks.completed": merchant_change(_checked),
        "onboarding.review.required": merchant_change(_review),
        "onboarding.review.escalated": merchant_change(_escalated_review),
        "onboarding.documents.requested": merchant_change(_decided("documents_requested")),
        "onboarding.application.approved": merchant_change(_decided("approved")),
        "onboarding.application.rejected": merchant_change(_decided("rejected")),
        "onboarding.merchant.activated": merchant_change(_activated),
        "onboarding.merchant.suspended": merchant_change(_decided("suspended")),
        "onboarding.merchant.reinstated": merchant_change(_decided("active")),
        "onboarding.command.rejected": command_rejected,
    }, types)


# -- dead letters and the control topic ----------------------------------------------------------


def dead_letter_recorded(service: str) -> Handler:
    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        data = envelope.data
        if await uow.session.get(DeadLetterView, str(envelope.event_id)) is None:
            uow.session.add(DeadLetterView(
                dead_letter_id=str(envelope.event_id), service=service, reason=data.reason[:64], detail=data.detail[:4000],
                source_topic=data.source_topic, source_partition=data.source_partition, source_offset=data.source_offset,
                source_key=data.source_key, recorded_at=envelope.occurred_at))

    return handle


async def dead_letter_replayed(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    letter = await uow.session.get(DeadLetterView, data.dead_letter_id)
    if letter is not None:
        letter.replayed_by, letter.replay_outcome = data.replayed_by, data.outcome
        uow.session.add(letter)


async def roster_changed(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    role = await uow.session.get(StaffRole, (data.principal_id, data.role.value))
    if data.change == "granted" and role is None:
        uow.session.add(StaffRole(principal_id=data.principal_id, role=data.role.value))
    elif data.change == "revoked" and role is not None:
        await uow.session.delete(role)


def control_handlers(types: Iterable[str]) -> dict[str, Handler]:
    return _known({"control.roster.changed": roster_changed, "control.deadletter.replayed": dead_letter_replayed}, types)
