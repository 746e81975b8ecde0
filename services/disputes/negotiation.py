"""Negotiation between buyer and merchant, pure: opening a case (by the buyer, or by the platform for a
cancellation the merchant's balance could not refund), the merchant's answer, counter-offers, and the
deadlines that keep it moving: whoever must answer and stays silent accepts what is on the table (the
merchant the buyer's request, the buyer the merchant's counter-offer; seed 05's verification then asks
the buyer, who may reopen the case for more), and a buyer who does not escalate a rejection in time
closes the case."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from services.disputes.cases import (
    COUNTER_OFFER_DEADLINE,
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
    due,
    only,
    order_key,
    settle,
)
from shared.contracts import disputes as c
from shared.contracts.disputes import CaseReason, CaseStatus, MerchantResponse
from shared.contracts.escrow import RefundRefused
from shared.envelope import Actor, ActorKind, Payload
from shared.unit_of_work import Rejected, Waiting

CANCELLATION_DESCRIPTION = ("订单发货前已取消，商家余额不足以退款：平台代买家申请退款，由商家余额、再由平台优先赔付 / "
                            "cancelled before shipment and the merchant's balance could not refund it: Danbao asks the "
                            "refund for the buyer, from the merchant's balance, then by priority compensation")


def open_case(existing: Case | None, open_on_order: Case | None, order: OrderView | None, command: c.OpenCase,
              actor: Actor, now: datetime, policy: Policy) -> CaseDecision:
    if existing is not None:
        raise Rejected("case_exists", f"case {command.case_id} already exists", command.case_id)
    if order is None:  # escrow's hold.created (or merchant.credited) may still be on its way: wait for it a while
        raise Waiting(order_key(command.order_id), "order_not_found",
                      f"no payment is known for order {command.order_id}", command.order_id)
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


def cancellation_case_id(order_id: str) -> str:
    """The case the platform opens for a cancellation it could not refund: one per order, derived from its id."""
    case_id = f"CX-{order_id}"
    return case_id if len(case_id) <= 64 else f"CX-{order_id[:40]}-{hashlib.sha256(order_id.encode()).hexdigest()[:16]}"


def open_for_cancellation(existing: Case | None, open_on_order: Case | None, order: OrderView | None,
                          refused: RefundRefused, now: datetime) -> CaseDecision | None:
    """Escrow could not refund a paid order cancelled before shipment: the merchant's balance is short. The
    cancellation becomes a case, agreed at once (nothing is asked of the merchant, who cannot refuse a refund the
    cancellation already owes): the refund is ordered, and what the merchant's balance does not cover is paid by
    priority compensation. None when there is nothing to open: a case already exists or is open on the order, the
    order is unknown, or nothing is left to refund."""
    case_id = cancellation_case_id(refused.order_id)
    if existing is not None or open_on_order is not None or order is None or order.refundable <= 0:
        return None
    case = Case(case_id=case_id, order_id=order.order_id, buyer_id=order.buyer_id, merchant_id=order.merchant_id,
                currency=order.currency, reason=CaseReason.NOT_RECEIVED, paid=order.paid, requested=order.refundable,
                status=CaseStatus.AWAITING_MERCHANT, opened_at=now, respond_by=now)
    opened = c.CaseOpened(**case.parties(), reason=case.reason, requested=case.money(case.requested),
                          paid=case.money(order.paid), description=CANCELLATION_DESCRIPTION, evidence=[], respond_by=now,
                          origin="cancellation")
    return _agree(case, case.requested, "cancelled_before_shipment", now, [opened])


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
    if command.response is MerchantResponse.ACCEPT:
        return _agree(case, case.requested, "merchant_accepted", now, [_responded(case, command)])
    if command.response is MerchantResponse.REJECT:
        escalate_by = now + policy.escalation_window
        failed = replace(case, status=CaseStatus.NEGOTIATION_FAILED, respond_by=None, escalate_by=escalate_by)
        return CaseDecision(failed, [_responded(case, command),
                                     c.NegotiationFailed(**case.parties(), rounds=case.round, escalate_by=escalate_by)],
                            only(Timer(ESCALATION_WINDOW, escalate_by)))
    assert command.amount is not None
    offer = _amount(case, command.amount, case.requested - 1 if case.requested > 1 else 0)
    answer_by = now + policy.counter_offer_answer
    countered = replace(case, status=CaseStatus.AWAITING_BUYER, counter_offer=offer, respond_by=None, due_at=answer_by)
    return CaseDecision(countered, [_responded(case, command, answer_by)], only(Timer(COUNTER_OFFER_DEADLINE, answer_by)))


def _responded(case: Case, command: c.RespondToCase, answer_by: datetime | None = None) -> c.MerchantResponded:
    return c.MerchantResponded(**case.parties(), round=case.round, response=command.response,
                               requested=case.money(case.requested), amount=command.amount, note=command.note,
                               answer_by=answer_by)


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
                         respond_by=respond_by, due_at=None)
    return CaseDecision(next_round, [answered], only(Timer(MERCHANT_DEADLINE, respond_by)))


def merchant_deadline(case: Case | None, now: datetime) -> CaseDecision:
    """The merchant did not answer in time: silence accepts the buyer's request."""
    case = due(case, CaseStatus.AWAITING_MERCHANT, now, "awaiting the merchant")
    return _agree(case, case.requested, "merchant_silent", now, [])


def counter_offer_lapsed(case: Case | None, now: datetime) -> CaseDecision:
    """The buyer did not answer the counter-offer in time: silence accepts it, as the merchant's silence accepts a
    request. The buyer gets at least what the merchant offered at once, and the three-day verification asks whether
    that is enough: an unsatisfied buyer reopens the case for the rest (seed 05)."""
    case = due(case, CaseStatus.AWAITING_BUYER, now, "awaiting the buyer's answer to a counter-offer")
    assert case.counter_offer is not None
    return _agree(replace(case, counter_offer=None), case.counter_offer, "buyer_silent", now, [])


def escalation_lapsed(case: Case | None, now: datetime) -> CaseDecision:
    case = due(case, CaseStatus.NEGOTIATION_FAILED, now, "awaiting escalation")
    return close(case, "not_escalated", [])


def withdraw(case: Case | None, command: c.WithdrawCase, actor: Actor) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may withdraw it", case.case_id)
    _in(case, CaseStatus.AWAITING_MERCHANT, CaseStatus.AWAITING_BUYER, CaseStatus.NEGOTIATION_FAILED,
        CaseStatus.IN_ARBITRATION, CaseStatus.AWAITING_RETURN)
    return close(case, "withdrawn", [])


def _agree(case: Case, amount: int, how: str, now: datetime, events: list[Payload]) -> CaseDecision:
    agreed = c.NegotiationAgreed(**case.parties(), amount=case.money(amount), how=how, rounds=case.round)
    return settle(case, amount, "agreed", now, [*events, agreed])
