"""Platform arbitration, pure: the published rule table, escalation, rulings, and the deadlines that keep an
escalated case moving. An arbitrator rules by ``rule_by`` (business days after the escalation); when it passes
the case goes to the supervisors' queue (``disputes.case.arbitration_overdue``, which names the default
ruling and when it applies), and when the supervisors' business days pass too, the rule table's default
ruling is made by the system, citing its rule. A ruling that wants the goods back first waits for them
(``returns``) before its refund is ordered."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.disputes.cases import (
    ARBITRATION_DEADLINE,
    DEFAULT_RULING,
    Case,
    CaseDecision,
    OrderView,
    Policy,
    Timer,
    _amount,
    _in,
    _is,
    _require,
    due,
    only,
    settle,
)
from services.disputes.returns import request_return
from shared.contracts import disputes as c
from shared.contracts.disputes import CaseReason, CaseStatus, RulingDecision
from shared.envelope import Actor, ActorKind, Payload
from shared.unit_of_work import Rejected

SYSTEM_ARBITRATOR = "system"


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
# When no rule of the table applies (no evidence where the rule needs it, or another reason), the default ruling
# made for an overdue case is a rejection: the table's rules are what the platform publishes it will refund.
UNPROVEN = ArbitrationRule("R0-unproven", CaseReason.OTHER, False, RulingDecision.REJECT, False,
                           "无适用规则（如缺少凭证）：驳回退款申请 / no rule applies (e.g. no evidence): the request is "
                           "refused")


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


def default_ruling(case: Case, order: OrderView) -> c.RuleProposal:
    """The ruling the system makes for an overdue case: the rule table's proposal, else ``R0-unproven``."""
    return propose(case, order) or c.RuleProposal(rule=UNPROVEN.rule, decision=UNPROVEN.decision, amount=case.money(0),
                                                  return_required=False, text=UNPROVEN.text)


def escalate(case: Case | None, command: c.EscalateCase, actor: Actor, order: OrderView, now: datetime,
             policy: Policy) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may escalate it", case.case_id)
    _in(case, CaseStatus.NEGOTIATION_FAILED)
    rule_by = policy.business_days_after(now, policy.arbitration_business_days)
    escalated = replace(case, status=CaseStatus.IN_ARBITRATION, escalate_by=None, due_at=rule_by, overdue_since=None)
    return CaseDecision(escalated, [c.CaseEscalated(**case.parties(), proposal=propose(case, order), rule_by=rule_by)],
                        only(Timer(ARBITRATION_DEADLINE, rule_by)))


def arbitration_overdue(case: Case | None, order: OrderView, now: datetime, policy: Policy) -> CaseDecision:
    """No arbitrator ruled by the deadline: the case goes to the supervisors' queue, and the default ruling is set
    to apply after their business days."""
    case = due(case, CaseStatus.IN_ARBITRATION, now, "awaiting a ruling")
    if case.overdue_since is not None:
        raise Rejected("nothing_due", "the case is already in the supervisors' queue", case.case_id)
    assert case.due_at is not None
    default_at = policy.business_days_after(now, policy.default_ruling_business_days)
    overdue = replace(case, overdue_since=now, due_at=default_at)
    event = c.ArbitrationOverdue(**case.parties(), rule_by=case.due_at, default_ruling_at=default_at,
                                 default_ruling=default_ruling(case, order))
    return CaseDecision(overdue, [event], only(Timer(DEFAULT_RULING, default_at)))


def apply_default_ruling(case: Case | None, order: OrderView, now: datetime, policy: Policy) -> CaseDecision:
    """The supervisors' time passed too: the system makes the rule table's default ruling, citing the rule."""
    case = due(case, CaseStatus.IN_ARBITRATION, now, "awaiting the default ruling")
    if case.overdue_since is None:
        raise Rejected("nothing_due", "the case is not overdue", case.case_id)
    proposal = default_ruling(case, order)
    reasons = (f"{proposal.rule}: {proposal.text}（仲裁逾期，按公开规则自动裁决 / arbitration overdue: the published "
               "rule applied)")
    ruled = c.CaseRuled(**case.parties(), arbitrator_id=SYSTEM_ARBITRATOR, decision=proposal.decision,
                        amount=proposal.amount, reasons=reasons, return_required=proposal.return_required,
                        followed_rule=proposal.rule, by_default=True)
    return _ruled(case, proposal.amount.amount, proposal.return_required, now, policy, [ruled])


def rule(case: Case | None, command: c.RuleOnCase, actor: Actor, order: OrderView, now: datetime,
         policy: Policy) -> CaseDecision:
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
    return_required = command.return_required and amount > 0
    proposal = propose(case, order)
    followed = proposal.rule if (proposal and proposal.decision is command.decision and proposal.amount.amount == amount
                                 and proposal.return_required is return_required) else None
    ruled = c.CaseRuled(**case.parties(), arbitrator_id=actor.id, decision=command.decision, amount=case.money(amount),
                        reasons=command.reasons, return_required=return_required, followed_rule=followed)
    return _ruled(case, amount, return_required, now, policy, [ruled])


def _ruled(case: Case, amount: int, return_required: bool, now: datetime, policy: Policy,
           events: list[Payload]) -> CaseDecision:
    """A ruling's outcome: its refund ordered now, or once the goods are back when it wants them first."""
    if return_required and amount > 0:
        return request_return(case, amount, now, policy, events)
    return settle(case, amount, "ruled", now, events)
