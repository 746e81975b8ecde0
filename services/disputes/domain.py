"""Dispute cases, pure: a state machine from (case, command or event, now) to (case, events, timers).

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
from shared.contracts.disputes import CaseReason, CaseStatus, MerchantResponse, RulingDecision
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected, Waiting

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


# -- arbitration rules --------------------------------------------------------------------------


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


# -- commands ------------------------------------------------------------------------------------


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


def escalate(case: Case | None, command: c.EscalateCase, actor: Actor, order: OrderView) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may escalate it", case.case_id)
    _in(case, CaseStatus.NEGOTIATION_FAILED)
    escalated = replace(case, status=CaseStatus.IN_ARBITRATION, escalate_by=None)
    return CaseDecision(escalated, [c.CaseEscalated(**case.parties(), proposal=propose(case, order))],
                        [Timer(ESCALATION_WINDOW, None)])


def escalation_lapsed(case: Case | None, now: datetime) -> CaseDecision:
    if case is None or case.status is not CaseStatus.NEGOTIATION_FAILED:
        raise Rejected("nothing_due", "the case is not awaiting escalation")
    if case.escalate_by is not None and now < case.escalate_by:
        raise Rejected("not_due", "the escalation window is still open", case.case_id)
    return _close(case, "not_escalated", [])


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
    return _settle(case, amount, "ruled", now, [ruled])


def withdraw(case: Case | None, command: c.WithdrawCase, actor: Actor) -> CaseDecision:
    case = _require(case, command.case_id)
    if not _is(actor, ActorKind.BUYER, case.buyer_id):
        raise Rejected("forbidden", "only the case's buyer may withdraw it", case.case_id)
    _in(case, CaseStatus.AWAITING_MERCHANT, CaseStatus.AWAITING_BUYER, CaseStatus.NEGOTIATION_FAILED, CaseStatus.IN_ARBITRATION)
    return _close(case, "withdrawn", [])


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
                        [*(Timer(kind, None) for kind in VERIFY_DAYS), Timer(MERCHANT_DEADLINE, respond_by)])


# -- outcomes and verification -------------------------------------------------------------------


def _agree(case: Case, amount: int, how: str, now: datetime, events: list[Payload]) -> CaseDecision:
    agreed = c.NegotiationAgreed(**case.parties(), amount=case.money(amount), how=how, rounds=case.round)
    return _settle(case, amount, "agreed", now, [*events, agreed])


def _settle(case: Case, amount: int, basis: str, now: datetime, events: list[Payload]) -> CaseDecision:
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


def _close(case: Case, outcome: str, events: list[Payload]) -> CaseDecision:
    closed = replace(case, status=CaseStatus.CLOSED, closed_outcome=outcome, respond_by=None, escalate_by=None)
    event = c.CaseClosed(**case.parties(), outcome=outcome, refunded=case.money(case.refunded), compensated=case.compensated,
                         satisfied=case.satisfied)
    return CaseDecision(closed, [*events, event], [Timer(kind, None) for kind in ALL_TIMERS])


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
    return _close(replace(case, verified=verified), "resolved" if verified else "unverified", events)


# -- escrow's execution and priority compensation ------------------------------------------------


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
