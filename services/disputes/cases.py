"""Dispute cases, pure — the case and what every step shares. A state machine from (case, command or
event, now) to (case, events, timers); every waiting state has a deadline, set as a timer and announced in
the event that enters it:

    AWAITING_MERCHANT (respond_by) --accept / deadline passes (silence accepts)--> VERIFYING (refund ordered)
    AWAITING_MERCHANT --counter_offer--> AWAITING_BUYER (answer_by) --accept / deadline passes (silence accepts
                                         the counter-offer)--> VERIFYING (refund ordered)
                                         AWAITING_BUYER --reject--> AWAITING_MERCHANT (next round)
    AWAITING_MERCHANT --reject--> NEGOTIATION_FAILED (escalate_by) --buyer escalates--> IN_ARBITRATION (rule_by)
                                  NEGOTIATION_FAILED --escalation window passes--> CLOSED (not_escalated)
    IN_ARBITRATION --ruling--> VERIFYING (refund ordered)
                   --ruling with the goods back first--> AWAITING_RETURN (return_by)
                   --rule_by passes--> IN_ARBITRATION, overdue: the supervisors' queue (default_ruling_at)
                   --default_ruling_at passes--> the rule table's default ruling, made by the system
    AWAITING_RETURN --buyer gives the waybill--> RETURN_IN_TRANSIT (confirm_by)
                    --return_by passes--> CLOSED (return_not_shipped: nothing refunded, the hold unfrozen)
    AWAITING_RETURN / RETURN_IN_TRANSIT --merchant confirms the goods are back--> VERIFYING (refund ordered)
    RETURN_IN_TRANSIT --confirm_by passes (the goods count as received)--> VERIFYING (refund ordered)
    VERIFYING (day1/2/3): day 1 ledger check, day 2 feedback asked, day 3 CLOSED (resolved / unverified);
               an unsatisfied buyer reopens it: --> AWAITING_MERCHANT (next round)
    AWAITING_MERCHANT, AWAITING_BUYER, NEGOTIATION_FAILED, IN_ARBITRATION, AWAITING_RETURN
               --buyer withdraws--> CLOSED (withdrawn)

Money: a case never orders more than the order can still give back (paid, less what was refunded
or ordered for it already). Escrow executes a refund order from the hold, then the merchant's
balance; a shortfall is covered by priority compensation within the published caps (per case,
per buyer per calendar year), once per refund order. The hold stays frozen until the case closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.business_days import CHINA as CHINA_TIME
from shared.business_days import CalendarUnavailable, business_days_later

from shared.contracts import disputes as c
from shared.contracts import insurer
from shared.contracts.disputes import CaseReason, CaseStatus
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected


CHINA = ZoneInfo("Asia/Shanghai")

MERCHANT_DEADLINE = "merchant-deadline"
COUNTER_OFFER_DEADLINE = "counter-offer-deadline"
ESCALATION_WINDOW = "escalation-window"
ARBITRATION_DEADLINE = "arbitration-deadline"
DEFAULT_RULING = "default-ruling"
RETURN_SHIPMENT_DEADLINE = "return-shipment-deadline"
RETURN_RECEIPT_DEADLINE = "return-receipt-deadline"
VERIFY_DAYS = ("verify-day1", "verify-day2", "verify-day3")
ALL_TIMERS = (MERCHANT_DEADLINE, COUNTER_OFFER_DEADLINE, ESCALATION_WINDOW, ARBITRATION_DEADLINE, DEFAULT_RULING,
              RETURN_SHIPMENT_DEADLINE, RETURN_RECEIPT_DEADLINE, *VERIFY_DAYS)
END_OF_BUSINESS = time(18, 0)  # business-day deadlines fall at 18:00 China time

OPEN_STATES = {CaseStatus.AWAITING_MERCHANT, CaseStatus.AWAITING_BUYER, CaseStatus.NEGOTIATION_FAILED,
               CaseStatus.IN_ARBITRATION, CaseStatus.AWAITING_RETURN, CaseStatus.RETURN_IN_TRANSIT,
               CaseStatus.VERIFYING}


@dataclass(frozen=True)
class Policy:
    """The published dispute policy."""

    merchant_response: timedelta = timedelta(hours=48)
    counter_offer_answer: timedelta = timedelta(hours=72)
    escalation_window: timedelta = timedelta(days=7)
    arbitration_business_days: int = 5
    default_ruling_business_days: int = 2
    return_shipment: timedelta = timedelta(days=7)
    return_receipt: timedelta = timedelta(days=10)
    after_sale: timedelta = timedelta(days=15)
    case_cap: int = 500_000
    buyer_yearly_cap: int = 2_000_000

    def business_days_after(self, moment: datetime, days: int) -> datetime:
        """18:00 China time on the ``days``-th business day after ``moment`` (Chinese statutory calendar). A year the
        calendar has no data for counts weekdays: a case must get a deadline even then (a holiday it misses only
        makes the deadline earlier, and the supervisors' queue follows it)."""
        try:
            return business_days_later(moment, days, at=END_OF_BUSINESS)
        except CalendarUnavailable:
            day = moment.astimezone(CHINA_TIME).date()
            while days > 0:
                day += timedelta(days=1)
                days -= day.weekday() < 5
            return datetime.combine(day, END_OF_BUSINESS, tzinfo=CHINA_TIME).astimezone(moment.tzinfo)


@dataclass(frozen=True)
class OrderView:
    """What disputes knows of a paid order, from escrow's events: a guaranteed one's hold, or a direct payment
    credited to the merchant (``guaranteed`` false)."""

    order_id: str
    buyer_id: str
    merchant_id: str
    paid: int
    currency: str
    shipped: bool = False
    released_at: datetime | None = None  # the after-sale window runs from it: a hold's release, a direct payment's
    release_reason: str | None = None    # deemed receipt (shipment + auto-confirm days)
    refunded_elsewhere: int = 0  # refunded outside any case (cancellations)
    committed: int = 0  # refunds ordered by cases
    guaranteed: bool = True

    @property
    def refundable(self) -> int:
        return self.paid - self.refunded_elsewhere - self.committed


@dataclass(frozen=True)
class Case:
    case_id: str
    order_id: str
    buyer_id: str
    merchant_id: str
    currency: str
    reason: CaseReason
    paid: int
    requested: int
    status: CaseStatus
    opened_at: datetime
    round: int = 1
    counter_offer: int | None = None
    respond_by: datetime | None = None
    escalate_by: datetime | None = None
    evidence_count: int = 0
    outcome: int = 0  # the last agreed or ruled refund
    basis: str | None = None
    ordered: int = 0  # refunds ordered for this case
    refunded: int = 0  # booked by escrow for this case, compensation included
    compensated: int = 0
    refund_orders: int = 0
    verify_started_at: datetime | None = None
    verified: bool | None = None
    satisfied: bool | None = None
    closed_outcome: str | None = None
    due_at: datetime | None = None  # the deadline of a waiting state without its own field (see below)
    overdue_since: datetime | None = None  # arbitration overdue: in the supervisors' queue since
    return_carrier: str | None = None
    return_tracking_no: str | None = None

    @property
    def deadline(self) -> datetime | None:
        """The running deadline of the state the case waits in (None once closed)."""
        if self.status is CaseStatus.AWAITING_MERCHANT:
            return self.respond_by
        if self.status is CaseStatus.NEGOTIATION_FAILED:
            return self.escalate_by
        if self.status is CaseStatus.VERIFYING:
            return self.verify_started_at + timedelta(days=3) if self.verify_started_at else None
        return self.due_at

    def money(self, amount: int) -> Money:
        return Money(amount=amount, currency=self.currency)

    def parties(self) -> dict[str, str]:
        return dict(case_id=self.case_id, order_id=self.order_id, buyer_id=self.buyer_id, merchant_id=self.merchant_id)


@dataclass(frozen=True)
class Timer:
    kind: str
    due: datetime | None  # None cancels it


@dataclass(frozen=True)
class CaseDecision:
    case: Case
    events: list[Payload]
    timers: list[Timer] = field(default_factory=list)
    claim: insurer.ClaimFiled | None = None


# -- shared checks ---------------------------------------------------------------------------------


def _is(actor: Actor, kind: ActorKind, party_id: str) -> bool:
    return actor.kind is kind and actor.id == party_id


def _require(case: Case | None, case_id: str) -> Case:
    if case is None:
        raise Rejected("case_not_found", f"no case {case_id}", case_id)
    return case


def _in(case: Case, *states: CaseStatus) -> None:
    if case.status not in states:
        raise Rejected("illegal_transition", f"the case is {case.status.value}", case.case_id)


def _amount(case: Case, money: Money, most: int) -> int:
    if money.currency != case.currency:
        raise Rejected("invalid_amount", f"the order was paid in {case.currency}", case.case_id)
    if not 0 < money.amount <= most:
        raise Rejected("invalid_amount", f"{money.amount} is not within the {most} that can still be refunded", case.case_id)
    return money.amount


def due(case: Case | None, state: CaseStatus, now: datetime, waiting: str) -> Case:
    """The case, when a timer finds it still waiting in ``state`` with its deadline passed; otherwise nothing is
    due (the case moved on, or its deadline moved)."""
    if case is None or case.status is not state:
        raise Rejected("nothing_due", f"the case is not {waiting}")
    if case.deadline is not None and now < case.deadline:
        raise Rejected("not_due", f"{waiting} until {case.deadline.isoformat()}", case.case_id)
    return case


def only(*running: Timer) -> list[Timer]:
    """The case's timers on entering a state: ``running`` set, every other kind cancelled."""
    kinds = {t.kind for t in running}
    return [*running, *(Timer(kind, None) for kind in ALL_TIMERS if kind not in kinds)]


def order_key(order_id: str) -> str:
    """What a case waits for until escrow's hold of the order is known."""
    return f"order:{order_id}"


# -- outcomes ----------------------------------------------------------------------------------------


def settle(case: Case, amount: int, basis: str, now: datetime, events: list[Payload]) -> CaseDecision:
    """An agreed or ruled outcome: order the refund (if any) and start the three-day verification."""
    refund_orders = case.refund_orders + (1 if amount > 0 else 0)
    settled = replace(case, status=CaseStatus.VERIFYING, outcome=amount, basis=basis, ordered=case.ordered + amount,
                      refund_orders=refund_orders, respond_by=None, counter_offer=None, verify_started_at=now,
                      verified=None, satisfied=None, due_at=None, overdue_since=None)
    out = list(events)
    if amount > 0:
        out.append(c.RefundOrdered(**case.parties(), refund_id=refund_id(case.case_id, refund_orders),
                                   amount=case.money(amount), basis=basis))
    days = [now + timedelta(days=n) for n in (1, 2, 3)]
    out.append(c.VerificationStarted(**case.parties(), outcome=case.money(amount), basis=basis,
                                     day1_at=days[0], day2_at=days[1], day3_at=days[2]))
    return CaseDecision(settled, out, only(*(Timer(kind, due) for kind, due in zip(VERIFY_DAYS, days, strict=True))))


def refund_id(case_id: str, n: int) -> str:
    return f"CR-{case_id}-{n}"


def close(case: Case, outcome: str, events: list[Payload]) -> CaseDecision:
    closed = replace(case, status=CaseStatus.CLOSED, closed_outcome=outcome, respond_by=None, escalate_by=None,
                     due_at=None)
    event = c.CaseClosed(**case.parties(), outcome=outcome, refunded=case.money(case.refunded), compensated=case.compensated,
                         satisfied=case.satisfied)
    return CaseDecision(closed, [*events, event], only())
