"""Platform arbitration, pure: the published rule table, escalation and rulings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.disputes.cases import (
    ESCALATION_WINDOW,
    Case,
    CaseDecision,
    OrderView,
    Timer,
    _amount,
    _in,
    _is,
    _require,
    settle,
)
from shared.contracts import disputes as c
from shared.contracts.disputes import CaseReason, CaseStatus, RulingDecision
from shared.envelope import Actor, ActorKind
from shared.unit_of_work import Rejected


@dataclass(frozen=True)
class ArbitrationRule:
    rule: str
    reason: CaseReason
    needs_evidence: bool
    decision: RulingDecision
    return_required: bool
    text: str


RULES: tuple[ArbitrationRule, ...] = (
    ArbitrationRule("R1-not-delivered", CaseReason.NOT_RECEIVED, False, RulingDecision.FULL_REFUND, False,
                    "物流未显示妥投且买家未确认收货：全额退款 / tracking shows no delivery and the buyer never "
                    "confirmed receipt: full refund"),
    ArbitrationRule("R2-not-as-described", CaseReason.NOT_AS_DESCRIBED, True, RulingDecision.FULL_REFUND, True,
                    "货不对板且有凭证：退货后全额退款 / not as described, with evidence: full refund on return"),
    ArbitrationRule("R3-damaged", CaseReason.DAMAGED, True, RulingDecision.FULL_REFUND, True,
                    "商品破损且有凭证：退货后全额退款 / damaged, with evidence: full refund on return"),
    ArbitrationRule("R4-price-difference", CaseReason.PRICE_DIFFERENCE, True, RulingDecision.PARTIAL_REFUND, False,
                    "差价有凭证：退还差价 / price difference proven: refund the difference"),
)


def propose(case: Case, order: OrderView) -> c.RuleProposal | None:
    """The published rule table's proposal for an escalated case, or None when no rule applies."""
    for rule in RULES:
        if rule.reason is not case.reason or (rule.needs_evidence and case.evidence_count == 0):
            continue
        if rule.reason is CaseReason.NOT_RECEIVED and order.release_reason == "buyer_confirmed":
            continue  # the buyer confirmed receipt: the rule does not apply
        amount = 0
        if rule.decision is RulingDecision.FULL_REFUND:
            amount = order.refundable
        elif rule.decision is RulingDecision.PARTIAL_REFUND:
            amount = min(case.requested, order.refundable)
        return c.RuleProposal(rule=rule.rule, decision=rule.decision, amount=case.money(amount),
                              return_required=rule.return_required, text=rule.text)
    return None


def escalate(case: Case | None, command: c.EscalateCase, actor: Actor, order: OrderView) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may escalate it", case.case_id)
    _in(case, CaseStatus.NEGOTIATION_FAILED)
    escalated = replace(case, status=CaseStatus.IN_ARBITRATION, escalate_by=None)
    return CaseDecision(escalated, [c.CaseEscalated(**case.parties(), proposal=propose(case, order))],
                        [Timer(ESCALATION_WINDOW, None)])


def rule(case: Case | None, command: c.RuleOnCase, actor: Actor, order: OrderView, now: datetime) -> CaseDecision:
    case = _require(case, command.case_id)
    if actor.kind is not ActorKind.ARBITRATOR:
        raise Rejected("forbidden", "only an arbitrator may rule", case.case_id)
    _in(case, CaseStatus.IN_ARBITRATION)
    if command.decision is RulingDecision.FULL_REFUND:
        amount = order.refundable
    elif command.decision is RulingDecision.PARTIAL_REFUND:
        assert command.amount is not None
        amount = _amount(case, command.amount, order.refundable)
    else:
        amount = 0
    proposal = propose(case, order)
    followed = proposal.rule if proposal and proposal.decision is command.decision and proposal.amount.amount == amount else None
    ruled = c.CaseRuled(**case.parties(), arbitrator_id=actor.id, decision=command.decision, amount=case.money(amount),
                        reasons=command.reasons, return_required=command.return_required, followed_rule=followed)
    return settle(case, amount, "ruled", now, [ruled])
