"""Negotiation between buyer and merchant, pure: opening a case, the merchant's answer, counter-offers,
the deadlines that keep it moving, withdrawal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.disputes.cases import (
    ESCALATION_WINDOW,
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
    order_key,
    settle,
)
from shared.contracts import disputes as c
from shared.contracts.disputes import CaseStatus, MerchantResponse
from shared.envelope import Actor, ActorKind, Payload
from shared.unit_of_work import Rejected, Waiting


def open_case(existing: Case | None, open_on_order: Case | None, order: OrderView | None, command: c.OpenCase,
              actor: Actor, now: datetime, policy: Policy) -> CaseDecision:
    if existing is not None:
        raise Rejected("case_exists", f"case {command.case_id} already exists", command.case_id)
    if order is None:  # escrow's hold.created may still be on its way: wait for it a while
        raise Waiting(order_key(command.order_id), "order_not_found",
                      f"no guaranteed payment is known for order {command.order_id}", command.order_id)
    if not _is(actor, ActorKind.BUYER, order.buyer_id):
        raise Rejected("forbidden", "only the order's buyer may open a case", command.case_id)
    if open_on_order is not None:
        raise Rejected("case_already_open", f"case {open_on_order.case_id} is open on this order", command.case_id)
    if order.released_at is not None and now > order.released_at + policy.after_sale:
        raise Rejected("after_sale_window_closed", f"cases may be opened up to {policy.after_sale.days} days after "
                                                   "the payment was released", command.case_id)
    respond_by = now + policy.merchant_response
    case = Case(case_id=command.case_id, order_id=order.order_id, buyer_id=order.buyer_id, merchant_id=order.merchant_id,
                currency=order.currency, reason=command.reason, paid=order.paid, requested=0,
                status=CaseStatus.AWAITING_MERCHANT, opened_at=now, respond_by=respond_by,
                evidence_count=len(command.evidence))
    if order.refundable <= 0:
        raise Rejected("nothing_to_refund", "the order was refunded in full already", command.case_id)
    case = replace(case, requested=_amount(case, command.requested, order.refundable))
    opened = c.CaseOpened(**case.parties(), reason=command.reason, requested=command.requested, paid=case.money(order.paid),
                          description=command.description, evidence=command.evidence, respond_by=respond_by)
    return CaseDecision(case, [opened], [Timer(MERCHANT_DEADLINE, respond_by)])


def add_evidence(case: Case | None, command: c.AddEvidence, actor: Actor) -> CaseDecision:
    case = _require(case, command.case_id)
    if _is(actor, ActorKind.BUYER, case.buyer_id):
        party = "buyer"
    elif _is(actor, ActorKind.MERCHANT, case.merchant_id):
        party = "merchant"
    else:
        raise Rejected("forbidden", "only the case's buyer or merchant may add evidence", case.case_id)
    if case.status is CaseStatus.CLOSED:
        raise Rejected("illegal_transition", "the case is closed", case.case_id)
    added = replace(case, evidence_count=case.evidence_count + (len(command.evidence) if party == "buyer" else 0))
    return CaseDecision(added, [c.EvidenceAdded(**case.parties(), party=party, evidence=command.evidence)])


def respond(case: Case | None, command: c.RespondToCase, actor: Actor, now: datetime, policy: Policy) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.MERCHANT, case.merchant_id):
        raise Rejected("forbidden", "only the case's merchant may answer it", case.case_id)
    _in(case, CaseStatus.AWAITING_MERCHANT)
    responded = c.MerchantResponded(**case.parties(), round=case.round, response=command.response,
                                    requested=case.money(case.requested), amount=command.amount, note=command.note)
    if command.response is MerchantResponse.ACCEPT:
        return _agree(case, case.requested, "merchant_accepted", now, [responded])
    if command.response is MerchantResponse.REJECT:
        escalate_by = now + policy.escalation_window
        failed = replace(case, status=CaseStatus.NEGOTIATION_FAILED, respond_by=None, escalate_by=escalate_by)
        return CaseDecision(failed, [responded, c.NegotiationFailed(**case.parties(), rounds=case.round, escalate_by=escalate_by)],
                            [Timer(MERCHANT_DEADLINE, None), Timer(ESCALATION_WINDOW, escalate_by)])
    assert command.amount is not None
    offer = _amount(case, command.amount, case.requested - 1 if case.requested > 1 else 0)
    countered = replace(case, status=CaseStatus.AWAITING_BUYER, counter_offer=offer, respond_by=None)
    return CaseDecision(countered, [responded], [Timer(MERCHANT_DEADLINE, None)])


def answer_counter_offer(case: Case | None, command: c.AnswerCounterOffer, actor: Actor, now: datetime,
                         policy: Policy) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may answer a counter-offer", case.case_id)
    _in(case, CaseStatus.AWAITING_BUYER)
    assert case.counter_offer is not None
    offer = case.money(case.counter_offer)
    if command.accept:
        answered = c.CounterOfferAnswered(**case.parties(), round=case.round, accepted=True, amount=offer, note=command.note)
        return _agree(replace(case, counter_offer=None), case.counter_offer, "counter_offer_accepted", now, [answered])
    respond_by = now + policy.merchant_response
    answered = c.CounterOfferAnswered(**case.parties(), round=case.round, accepted=False, amount=offer,
                                      respond_by=respond_by, note=command.note)
    next_round = replace(case, status=CaseStatus.AWAITING_MERCHANT, round=case.round + 1, counter_offer=None,
                         respond_by=respond_by)
    return CaseDecision(next_round, [answered], [Timer(MERCHANT_DEADLINE, respond_by)])


def merchant_deadline(case: Case | None, now: datetime) -> CaseDecision:
    """The merchant did not answer in time: silence accepts the buyer's request."""
    if case is None or case.status is not CaseStatus.AWAITING_MERCHANT:
        raise Rejected("nothing_due", "the case is not awaiting the merchant")
    if case.respond_by is not None and now < case.respond_by:
        raise Rejected("not_due", f"the merchant may answer until {case.respond_by.isoformat()}", case.case_id)
    return _agree(case, case.requested, "merchant_silent", now, [])


def escalation_lapsed(case: Case | None, now: datetime) -> CaseDecision:
    if case is None or case.status is not CaseStatus.NEGOTIATION_FAILED:
        raise Rejected("nothing_due", "the case is not awaiting escalation")
    if case.escalate_by is not None and now < case.escalate_by:
        raise Rejected("not_due", "the escalation window is still open", case.case_id)
    return close(case, "not_escalated", [])


def withdraw(case: Case | None, command: c.WithdrawCase, actor: Actor) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may withdraw it", case.case_id)
    _in(case, CaseStatus.AWAITING_MERCHANT, CaseStatus.AWAITING_BUYER, CaseStatus.NEGOTIATION_FAILED, CaseStatus.IN_ARBITRATION)
    return close(case, "withdrawn", [])


def _agree(case: Case, amount: int, how: str, now: datetime, events: list[Payload]) -> CaseDecision:
    agreed = c.NegotiationAgreed(**case.parties(), amount=case.money(amount), how=how, rounds=case.round)
    return settle(case, amount, "agreed", now, [*events, agreed])
