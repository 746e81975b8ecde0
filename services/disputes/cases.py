"""Dispute cases, pure — the case and what every step shares: a state machine from (case, command or event, now) to (case, events, timers).

    AWAITING_MERCHANT --accept / deadline passes (silence accepts)--> VERIFYING   (refund ordered)
    AWAITING_MERCHANT --counter_offer--> AWAITING_BUYER --accept--> VERIFYING     (refund ordered)
                                         AWAITING_BUYER --reject--> AWAITING_MERCHANT (next round)
    AWAITING_MERCHANT --reject--> NEGOTIATION_FAILED --buyer escalates--> IN_ARBITRATION --ruling--> VERIFYING
                                  NEGOTIATION_FAILED --escalation window passes--> CLOSED (not_escalated)
    VERIFYING: day 1 ledger check, day 2 feedback asked, day 3 CLOSED (resolved / unverified);
               an unsatisfied buyer reopens it: --> AWAITING_MERCHANT (next round)
    any state before VERIFYING --buyer withdraws--> CLOSED (withdrawn)

Money: a case never orders more than the order can still give back (paid, less what was refunded
or ordered for it already). Escrow executes a refund order from the hold, then the merchant's
balance; a shortfall is covered by priority compensation within the published caps (per case,
per buyer per calendar year), once per refund order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.contracts import disputes as c
from shared.contracts import insurer
from shared.contracts.disputes import CaseReason, CaseStatus
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected


CHINA = ZoneInfo("Asia/Shanghai")

MERCHANT_DEADLINE = "merchant-deadline"
ESCALATION_WINDOW = "escalation-window"
VERIFY_DAYS = ("verify-day1", "verify-day2", "verify-day3")
ALL_TIMERS = (MERCHANT_DEADLINE, ESCALATION_WINDOW, *VERIFY_DAYS)

OPEN_STATES = {CaseStatus.AWAITING_MERCHANT, CaseStatus.AWAITING_BUYER, CaseStatus.NEGOTIATION_FAILED,
               CaseStatus.IN_ARBITRATION, CaseStatus.VERIFYING}


@dataclass(frozen=True)
class Policy:
    """The published dispute policy."""

    merchant_response: timedelta = timedelta(hours=48)
    escalation_window: timedelta = timedelta(days=7)
    after_sale: timedelta = timedelta(days=15)
    case_cap: int = 500_000
    buyer_yearly_cap: int = 2_000_000


@dataclass(frozen=True)
class OrderView:
    """What disputes knows of a guaranteed order, from escrow's events."""

    order_id: str
    buyer_id: str
    merchant_id: str
    paid: int
    currency: str
    shipped: bool = False
    released_at: datetime | None = None
    release_reason: str | None = None
    refunded_elsewhere: int = 0  # refunded from the hold outside any case (cancellations)
    committed: int = 0  # refunds ordered by cases

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


def order_key(order_id: str) -> str:
    """What a case waits for until escrow's hold of the order is known."""
    return f"order:{order_id}"


# -- outcomes ----------------------------------------------------------------------------------------


def settle(case: Case, amount: int, basis: str, now: datetime, events: list[Payload]) -> CaseDecision:
    """An agreed or ruled outcome: order the refund (if any) and start the three-day verification."""
    refund_orders = case.refund_orders + (1 if amount > 0 else 0)
    settled = replace(case, status=CaseStatus.VERIFYING, outcome=amount, basis=basis, ordered=case.ordered + amount,
                      refund_orders=refund_orders, respond_by=None, counter_offer=None, verify_started_at=now,
                      verified=None, satisfied=None)
    out = list(events)
    if amount > 0:
        out.append(c.RefundOrdered(**case.parties(), refund_id=refund_id(case.case_id, refund_orders),
                                   amount=case.money(amount), basis=basis))
    days = [now + timedelta(days=n) for n in (1, 2, 3)]
    out.append(c.VerificationStarted(**case.parties(), outcome=case.money(amount), basis=basis,
                                     day1_at=days[0], day2_at=days[1], day3_at=days[2]))
    timers = [Timer(MERCHANT_DEADLINE, None), *(Timer(kind, due) for kind, due in zip(VERIFY_DAYS, days, strict=True))]
    return CaseDecision(settled, out, timers)


def refund_id(case_id: str, n: int) -> str:
    return f"CR-{case_id}-{n}"


def close(case: Case, outcome: str, events: list[Payload]) -> CaseDecision:
    closed = replace(case, status=CaseStatus.CLOSED, closed_outcome=outcome, respond_by=None, escalate_by=None)
    event = c.CaseClosed(**case.parties(), outcome=outcome, refunded=case.money(case.refunded), compensated=case.compensated,
                         satisfied=case.satisfied)
    return CaseDecision(closed, [*events, event], [Timer(kind, None) for kind in ALL_TIMERS])
