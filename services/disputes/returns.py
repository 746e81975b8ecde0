"""The return step of a ruling that refunds on return (rules R2 and R3), pure. The hold stays frozen
throughout; the refund is ordered only when the goods count as back with the merchant:

    AWAITING_RETURN (return_by) --buyer gives the return's waybill--> RETURN_IN_TRANSIT (confirm_by)
    AWAITING_RETURN --return_by passes--> CLOSED (return_not_shipped): the ruling lapses, nothing is refunded,
                      the hold is unfrozen and its auto-confirm countdown resumes (the money goes to the merchant
                      in due course, as for any order whose buyer kept the goods)
    AWAITING_RETURN / RETURN_IN_TRANSIT --merchant confirms the goods are back--> refund ordered, VERIFYING
    RETURN_IN_TRANSIT --confirm_by passes: the goods count as received--> refund ordered, VERIFYING
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.disputes.cases import (
    RETURN_RECEIPT_DEADLINE,
    RETURN_SHIPMENT_DEADLINE,
    Case,
    CaseDecision,
    Policy,
    Timer,
    _in,
    _is,
    _require,
    close,
    due,
    only,
    settle,
)
from shared.contracts import disputes as c
from shared.contracts.disputes import CaseStatus
from shared.envelope import Actor, ActorKind, Payload
from shared.unit_of_work import Rejected


def request_return(case: Case, amount: int, now: datetime, policy: Policy, events: list[Payload]) -> CaseDecision:
    """The ruling's refund of ``amount`` waits for the goods: the buyer sends them back by ``return_by``."""
    return_by = now + policy.return_shipment
    waiting = replace(case, status=CaseStatus.AWAITING_RETURN, outcome=amount, basis="ruled", due_at=return_by,
                      overdue_since=None, respond_by=None, counter_offer=None)
    requested = c.ReturnRequested(**case.parties(), amount=case.money(amount), return_by=return_by)
    return CaseDecision(waiting, [*events, requested], only(Timer(RETURN_SHIPMENT_DEADLINE, return_by)))


def record_return_shipment(case: Case | None, command: c.RecordReturnShipment, actor: Actor, now: datetime,
                           policy: Policy) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may send the goods back", case.case_id)
    _in(case, CaseStatus.AWAITING_RETURN)
    confirm_by = now + policy.return_receipt
    shipped = replace(case, status=CaseStatus.RETURN_IN_TRANSIT, due_at=confirm_by, return_carrier=command.carrier,
                      return_tracking_no=command.tracking_no)
    event = c.ReturnShipped(**case.parties(), carrier=command.carrier, tracking_no=command.tracking_no,
                            confirm_by=confirm_by)
    return CaseDecision(shipped, [event], only(Timer(RETURN_RECEIPT_DEADLINE, confirm_by)))


def confirm_return_receipt(case: Case | None, command: c.ConfirmReturnReceipt, actor: Actor, now: datetime) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.MERCHANT, case.merchant_id):
        raise Rejected("forbidden", "only the case's merchant may confirm the goods came back", case.case_id)
    _in(case, CaseStatus.AWAITING_RETURN, CaseStatus.RETURN_IN_TRANSIT)
    return _received(case, "merchant_confirmed", now)


def return_receipt_lapsed(case: Case | None, now: datetime) -> CaseDecision:
    """The merchant did not confirm the return in time: the goods count as received and the refund is ordered."""
    return _received(due(case, CaseStatus.RETURN_IN_TRANSIT, now, "awaiting the merchant's confirmation of the return"),
                     "deadline_passed", now)


def return_shipment_lapsed(case: Case | None, now: datetime) -> CaseDecision:
    """The buyer sent nothing back in time: the ruling's refund lapses and the case closes."""
    return close(due(case, CaseStatus.AWAITING_RETURN, now, "awaiting the return"), "return_not_shipped", [])


def _received(case: Case, how: str, now: datetime) -> CaseDecision:
    received = c.ReturnReceived(**case.parties(), how=how, amount=case.money(case.outcome))
    return settle(case, case.outcome, "ruled", now, [received])
