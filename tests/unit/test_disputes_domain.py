"""The dispute case state machine, pure: negotiation, escalation and rulings, the three-day
verification, priority compensation within the caps, and invariants over command sequences (deadlines:
test_disputes_deadlines)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.disputes import domain
from shared.contracts import disputes as c
from shared.contracts.disputes import CaseReason, CaseStatus, MerchantResponse, RulingDecision
from shared.envelope import Actor, ActorKind
from shared.money import Money
from shared.unit_of_work import Rejected, Waiting

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
POLICY = domain.Policy()
BUYER = Actor(kind=ActorKind.BUYER, id="B-1")
MERCHANT = Actor(kind=ActorKind.MERCHANT, id="M-1")
ARBITRATOR = Actor(kind=ActorKind.ARBITRATOR, id="ARB-1")
EVIDENCE = c.Evidence(reference="evidence/photo.jpg", sha256="a" * 64, description="photo")


def order(paid: int = 12900, **changes: object) -> domain.OrderView:
    return replace(domain.OrderView(order_id="O-1", buyer_id="B-1", merchant_id="M-1", paid=paid, currency="CNY"), **changes)  # type: ignore[arg-type]


def opened(requested: int = 12900, reason: CaseReason = CaseReason.NOT_AS_DESCRIBED, evidence: bool = True,
           view: domain.OrderView | None = None) -> domain.Case:
    command = c.OpenCase(case_id="C-1", order_id="O-1", reason=reason, requested=Money(amount=requested),
                         description="problem", evidence=[EVIDENCE] if evidence else [])
    return domain.open_case(None, None, view or order(), command, BUYER, NOW, POLICY).case


def respond(case: domain.Case, response: MerchantResponse, amount: int | None = None, at: datetime = NOW) -> domain.CaseDecision:
    command = c.RespondToCase(case_id="C-1", response=response, amount=Money(amount=amount) if amount else None)
    return domain.respond(case, command, MERCHANT, at, POLICY)


def types(decision: domain.CaseDecision) -> list[str]:
    return [e.TYPE for e in decision.events]  # type: ignore[attr-defined]


def test_opening_a_case_asks_the_merchant_to_answer_within_48_hours() -> None:
    command = c.OpenCase(case_id="C-1", order_id="O-1", reason=CaseReason.PRICE_DIFFERENCE, requested=Money(amount=3800),
                         description="38 yuan more than listed", evidence=[EVIDENCE])
    decision = domain.open_case(None, None, order(), command, BUYER, NOW, POLICY)
    assert decision.case.status is CaseStatus.AWAITING_MERCHANT and decision.case.requested == 3800
    event = decision.events[0]
    assert isinstance(event, c.CaseOpened) and event.respond_by == NOW + timedelta(hours=48)
    assert event.paid.amount == 12900
    assert decision.timers == [domain.Timer(domain.MERCHANT_DEADLINE, NOW + timedelta(hours=48))]


@pytest.mark.parametrize(("view", "actor", "requested", "reason"), [
    (order(), MERCHANT, 100, "forbidden"),
    (order(), Actor(kind=ActorKind.BUYER, id="B-2"), 100, "forbidden"),
    (order(), BUYER, 13000, "invalid_amount"),
    (order(refunded_elsewhere=12900), BUYER, 100, "nothing_to_refund"),
    (order(committed=12000), BUYER, 1000, "invalid_amount"),
    (order(released_at=NOW - timedelta(days=16)), BUYER, 100, "after_sale_window_closed"),
])
def test_opening_is_refused_with_a_reason(view: domain.OrderView | None, actor: Actor, requested: int, reason: str) -> None:
    command = c.OpenCase(case_id="C-1", order_id="O-1", reason=CaseReason.OTHER, requested=Money(amount=requested),
                         description="x")
    with pytest.raises(Rejected) as refused:
        domain.open_case(None, None, view, command, actor, NOW, POLICY)
    assert refused.value.reason == reason


def test_a_case_on_an_order_not_known_yet_waits_for_its_hold() -> None:
    """Escrow's hold.created may still be on its way: the case waits for it, and is refused if it never comes."""
    command = c.OpenCase(case_id="C-1", order_id="O-1", reason=CaseReason.OTHER, requested=Money(amount=100), description="x")
    with pytest.raises(Waiting) as waiting:
        domain.open_case(None, None, None, command, BUYER, NOW, POLICY)
    assert waiting.value.waits_for == domain.order_key("O-1") == "order:O-1"
    assert waiting.value.rejection.reason == "order_not_found" and waiting.value.rejection.aggregate_id == "O-1"


def test_one_open_case_per_order_and_case_ids_are_unique() -> None:
    case = opened()
    command = c.OpenCase(case_id="C-2", order_id="O-1", reason=CaseReason.OTHER, requested=Money(amount=100), description="x")
    with pytest.raises(Rejected, match="case_already_open"):
        domain.open_case(None, case, order(), command, BUYER, NOW, POLICY)
    with pytest.raises(Rejected, match="case_exists"):
        domain.open_case(case, None, order(), command.model_copy(update={"case_id": "C-1"}), BUYER, NOW, POLICY)


def test_merchant_accepting_orders_the_refund_and_starts_the_three_day_verification() -> None:
    decision = respond(opened(3800), MerchantResponse.ACCEPT)
    assert types(decision) == ["disputes.case.merchant_responded", "disputes.negotiation.agreed", "disputes.refund.ordered",
                               "disputes.verification.started"]
    refund = decision.events[2]
    assert isinstance(refund, c.RefundOrdered) and refund.amount.amount == 3800 and refund.refund_id == "CR-C-1-1"
    started = decision.events[3]
    assert isinstance(started, c.VerificationStarted)
    assert [started.day1_at, started.day2_at, started.day3_at] == [NOW + timedelta(days=n) for n in (1, 2, 3)]
    assert decision.case.status is CaseStatus.VERIFYING and decision.case.ordered == 3800


def test_counter_offer_rejected_by_the_buyer_starts_a_new_round_then_full_refund_agreed() -> None:
    countered = respond(opened(), MerchantResponse.COUNTER_OFFER, 6000).case
    assert countered.status is CaseStatus.AWAITING_BUYER and countered.counter_offer == 6000
    rejected = domain.answer_counter_offer(countered, c.AnswerCounterOffer(case_id="C-1", accept=False), BUYER, NOW, POLICY)
    assert rejected.case.status is CaseStatus.AWAITING_MERCHANT and rejected.case.round == 2
    assert domain.Timer(domain.MERCHANT_DEADLINE, NOW + timedelta(hours=48)) in rejected.timers
    agreed = respond(rejected.case, MerchantResponse.ACCEPT)
    event = next(e for e in agreed.events if isinstance(e, c.NegotiationAgreed))
    assert event.amount.amount == 12900 and event.rounds == 2 and event.how == "merchant_accepted"


def test_accepting_a_counter_offer_agrees_on_it() -> None:
    countered = respond(opened(), MerchantResponse.COUNTER_OFFER, 6000).case
    agreed = domain.answer_counter_offer(countered, c.AnswerCounterOffer(case_id="C-1", accept=True), BUYER, NOW, POLICY)
    refund = next(e for e in agreed.events if isinstance(e, c.RefundOrdered))
    assert refund.amount.amount == 6000 and agreed.case.ordered == 6000


def test_a_counter_offer_must_be_less_than_the_request() -> None:
    with pytest.raises(Rejected, match="invalid_amount"):
        respond(opened(3800), MerchantResponse.COUNTER_OFFER, 3800)


def test_merchant_silence_past_the_deadline_accepts_the_request() -> None:
    case = opened(5000)
    with pytest.raises(Rejected, match="not_due"):
        domain.merchant_deadline(case, NOW + timedelta(hours=47))
    decision = domain.merchant_deadline(case, NOW + timedelta(hours=48))
    agreed = next(e for e in decision.events if isinstance(e, c.NegotiationAgreed))
    assert agreed.how == "merchant_silent" and agreed.amount.amount == 5000


def test_rejection_escalation_and_a_ruling_that_follows_the_rule_table() -> None:
    failed = respond(opened(reason=CaseReason.NOT_RECEIVED, evidence=False), MerchantResponse.REJECT)
    assert failed.case.status is CaseStatus.NEGOTIATION_FAILED
    assert domain.Timer(domain.ESCALATION_WINDOW, NOW + timedelta(days=7)) in failed.timers
    escalated = domain.escalate(failed.case, c.EscalateCase(case_id="C-1"), BUYER, order(shipped=True), NOW, POLICY)
    proposal = escalated.events[0].proposal  # type: ignore[attr-defined]
    assert proposal.rule == "R1-not-delivered" and proposal.decision is RulingDecision.FULL_REFUND and proposal.amount.amount == 12900
    with pytest.raises(Rejected, match="forbidden"):
        domain.rule(escalated.case, c.RuleOnCase(case_id="C-1", decision=RulingDecision.FULL_REFUND, reasons="r"), BUYER,
                    order(), NOW, POLICY)
    ruled = domain.rule(escalated.case, c.RuleOnCase(case_id="C-1", decision=RulingDecision.FULL_REFUND, reasons="lost"),
                        ARBITRATOR, order(shipped=True), NOW, POLICY)
    assert types(ruled) == ["disputes.case.ruled", "disputes.refund.ordered", "disputes.verification.started"]
    assert ruled.events[0].followed_rule == "R1-not-delivered"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("reason", "evidence", "view", "rule"), [
    (CaseReason.NOT_RECEIVED, False, order(release_reason="buyer_confirmed"), None),
    (CaseReason.NOT_AS_DESCRIBED, True, order(), "R2-not-as-described"),
    (CaseReason.NOT_AS_DESCRIBED, False, order(), None),
    (CaseReason.DAMAGED, True, order(), "R3-damaged"),
    (CaseReason.PRICE_DIFFERENCE, True, order(), "R4-price-difference"),
    (CaseReason.OTHER, True, order(), None),
])
def test_rule_table(reason: CaseReason, evidence: bool, view: domain.OrderView, rule: str | None) -> None:
    proposal = domain.propose(opened(3800, reason, evidence), view)
    assert (proposal.rule if proposal else None) == rule
    if rule == "R4-price-difference":
        assert proposal is not None and proposal.amount.amount == 3800


def test_a_rejecting_ruling_orders_nothing_but_is_still_verified() -> None:
    failed = respond(opened(), MerchantResponse.REJECT).case
    escalated = domain.escalate(failed, c.EscalateCase(case_id="C-1"), BUYER, order(), NOW, POLICY).case
    ruled = domain.rule(escalated, c.RuleOnCase(case_id="C-1", decision=RulingDecision.REJECT, reasons="no proof"),
                        ARBITRATOR, order(), NOW, POLICY)
    assert types(ruled) == ["disputes.case.ruled", "disputes.verification.started"]
    day1 = domain.verification_day(ruled.case, 1, NOW + timedelta(days=1))
    assert day1.events[0].verified is True  # type: ignore[attr-defined]


def test_not_escalating_in_time_closes_the_case() -> None:
    failed = respond(opened(), MerchantResponse.REJECT).case
    closed = domain.escalation_lapsed(failed, NOW + timedelta(days=7))
    assert closed.case.status is CaseStatus.CLOSED and closed.events[-1].outcome == "not_escalated"  # type: ignore[attr-defined]


def test_withdrawal_closes_an_open_case_but_not_one_being_verified() -> None:
    closed = domain.withdraw(opened(), c.WithdrawCase(case_id="C-1"), BUYER)
    assert closed.case.closed_outcome == "withdrawn" and {t.kind for t in closed.timers} == set(domain.ALL_TIMERS)
    verifying = respond(opened(), MerchantResponse.ACCEPT).case
    with pytest.raises(Rejected, match="illegal_transition"):
        domain.withdraw(verifying, c.WithdrawCase(case_id="C-1"), BUYER)


def test_three_day_verification_checks_the_ledger_asks_the_buyer_and_closes() -> None:
    case = respond(opened(3800), MerchantResponse.ACCEPT).case
    executed = domain.refund_executed(case, "CR-C-1-1", 3800, 0, 0, "price_difference", 0, POLICY).case
    day1 = domain.verification_day(executed, 1, NOW + timedelta(days=1))
    assert day1.events[0].verified is True and day1.events[0].booked.amount == 3800  # type: ignore[attr-defined]
    day2 = domain.verification_day(day1.case, 2, NOW + timedelta(days=2))
    assert isinstance(day2.events[0], c.FeedbackRequested) and day2.events[0].answer_by == NOW + timedelta(days=3)
    happy = domain.submit_feedback(day2.case, c.SubmitFeedback(case_id="C-1", satisfied=True), BUYER,
                                   order(committed=3800), NOW, POLICY)
    day3 = domain.verification_day(happy.case, 3, NOW + timedelta(days=3))
    closed = day3.events[-1]
    assert isinstance(closed, c.CaseClosed) and closed.outcome == "resolved" and closed.refunded.amount == 3800
    assert closed.satisfied is True


def test_a_refund_not_booked_leaves_the_case_unverified() -> None:
    case = respond(opened(3800), MerchantResponse.ACCEPT).case
    day1 = domain.verification_day(case, 1, NOW + timedelta(days=1))
    assert day1.events[0].verified is False  # type: ignore[attr-defined]
    assert domain.verification_day(day1.case, 3, NOW + timedelta(days=3)).case.closed_outcome == "unverified"


def test_an_unsatisfied_buyer_reopens_negotiation_for_a_further_refund() -> None:
    case = respond(opened(3800), MerchantResponse.ACCEPT).case
    with pytest.raises(Rejected, match="invalid_amount"):
        domain.submit_feedback(case, c.SubmitFeedback(case_id="C-1", satisfied=False, requested=Money(amount=9200)), BUYER,
                               order(committed=3800), NOW, POLICY)
    reopened = domain.submit_feedback(case, c.SubmitFeedback(case_id="C-1", satisfied=False, requested=Money(amount=1000)),
                                      BUYER, order(committed=3800), NOW, POLICY)
    assert types(reopened) == ["disputes.feedback.received", "disputes.case.reopened"]
    assert reopened.case.status is CaseStatus.AWAITING_MERCHANT and reopened.case.round == 2
    assert {t.kind for t in reopened.timers if t.due is None} >= set(domain.VERIFY_DAYS)
    assert [t for t in reopened.timers if t.due is not None] == [domain.Timer(domain.MERCHANT_DEADLINE, NOW + timedelta(hours=48))]
    again = respond(reopened.case, MerchantResponse.ACCEPT)
    refund = next(e for e in again.events if isinstance(e, c.RefundOrdered))
    assert refund.refund_id == "CR-C-1-2" and again.case.ordered == 4800


def test_a_shortfall_is_compensated_within_the_caps_and_a_claim_is_filed() -> None:
    case = respond(opened(), MerchantResponse.ACCEPT).case
    decision = domain.refund_executed(case, "CR-C-1-1", 0, 2900, 10000, "not_as_described", 0, POLICY)
    granted = decision.events[0]
    assert isinstance(granted, c.CompensationGranted) and granted.amount.amount == 10000 and granted.uncovered == 0
    assert decision.claim is not None and decision.claim.claim_id == granted.claim_id == "CL-C-1-1"
    assert decision.case.refunded == 12900 and decision.case.compensated == 10000
    capped = domain.refund_executed(case, "CR-C-1-1", 0, 0, 12900, "other", 0, replace(POLICY, case_cap=5000))
    assert capped.events[0].amount.amount == 5000 and capped.events[0].uncovered == 7900  # type: ignore[attr-defined]
    yearly = domain.refund_executed(case, "CR-C-1-1", 0, 0, 12900, "other", POLICY.buyer_yearly_cap - 100, POLICY)
    assert yearly.events[0].amount.amount == 100  # type: ignore[attr-defined]
    spent = domain.refund_executed(case, "CR-C-1-1", 0, 0, 12900, "other", POLICY.buyer_yearly_cap, POLICY)
    assert spent.events == [] and spent.claim is None


def test_only_the_parties_act() -> None:
    case = opened()
    stranger = Actor(kind=ActorKind.MERCHANT, id="M-2")
    with pytest.raises(Rejected, match="forbidden"):
        domain.respond(case, c.RespondToCase(case_id="C-1", response=MerchantResponse.ACCEPT), stranger, NOW, POLICY)
    with pytest.raises(Rejected, match="forbidden"):
        domain.respond(case, c.RespondToCase(case_id="C-1", response=MerchantResponse.ACCEPT), BUYER, NOW, POLICY)
    with pytest.raises(Rejected, match="forbidden"):
        domain.add_evidence(case, c.AddEvidence(case_id="C-1", evidence=[EVIDENCE]), stranger)
    with pytest.raises(Rejected, match="illegal_transition"):
        domain.escalate(case, c.EscalateCase(case_id="C-1"), BUYER, order(), NOW, POLICY)


# -- invariants over sequences of case commands ---------------------------------------------------

ACTORS = st.sampled_from([BUYER, MERCHANT, ARBITRATOR, Actor(kind=ActorKind.BUYER, id="B-9")])
AMOUNTS = st.integers(min_value=1, max_value=20000)
STEPS = st.lists(st.tuples(st.sampled_from(["respond", "answer", "escalate", "rule", "withdraw", "feedback", "deadline",
                                            "day", "execute", "open", "timer", "waybill", "returned"]),
                           ACTORS, st.sampled_from(list(MerchantResponse)), st.sampled_from(list(RulingDecision)),
                           AMOUNTS, st.booleans(), st.integers(min_value=0, max_value=20000)),
                 max_size=40)


def fire(kind: str, case: domain.Case | None, view: domain.OrderView, now: datetime, policy: domain.Policy) -> domain.CaseDecision:
    """What the service runs when a case's timer of ``kind`` fires."""
    if kind in domain.VERIFY_DAYS:
        return domain.verification_day(case, domain.VERIFY_DAYS.index(kind) + 1, now)
    if kind in (domain.ARBITRATION_DEADLINE, domain.DEFAULT_RULING):
        assert case is not None
        act = domain.arbitration_overdue if kind == domain.ARBITRATION_DEADLINE else domain.apply_default_ruling
        return act(case, view, now, policy)
    return {domain.MERCHANT_DEADLINE: domain.merchant_deadline, domain.COUNTER_OFFER_DEADLINE: domain.counter_offer_lapsed,
            domain.ESCALATION_WINDOW: domain.escalation_lapsed, domain.RETURN_SHIPMENT_DEADLINE: domain.return_shipment_lapsed,
            domain.RETURN_RECEIPT_DEADLINE: domain.return_receipt_lapsed}[kind](case, now)


@settings(max_examples=300, deadline=None)
@given(paid=st.integers(min_value=1, max_value=20000), steps=STEPS, cap=st.integers(min_value=0, max_value=20000))
def test_no_sequence_pays_more_than_paid_plus_cap_or_compensates_twice(paid: int, steps: list, cap: int) -> None:  # type: ignore[type-arg]
    """Whatever buyers, merchants, arbitrators and escrow do in whatever order: refunds ordered never exceed what
    was paid; what the buyer gets (refunds plus compensation) never exceeds that; compensation stays within the
    cap and is granted at most once per refund order. And the case never stalls: while it is open, the deadline of
    the state it waits in is set as a running timer."""
    policy = replace(POLICY, case_cap=cap)
    view = order(paid=paid)
    case: domain.Case | None = None
    now = NOW
    executed: set[str] = set()
    compensations: list[str] = []
    pending: list[c.RefundOrdered] = []
    running: dict[str, datetime] = {}
    for kind, actor, response, ruling, amount, flag, shortfall_cut in steps:
        now += timedelta(hours=13)
        try:
            if kind == "timer":  # the earliest running timer fires (time moves on to it if need be)
                if not running:
                    continue
                first = min(running, key=lambda k: running[k])
                now = max(now, running.pop(first))
                decision = fire(first, case, view, now, policy)
            elif kind == "open" or case is None:
                command = c.OpenCase(case_id=f"C-{len(compensations)}-{amount}", order_id="O-1", reason=CaseReason.OTHER,
                                     requested=Money(amount=amount), description="x")
                decision = domain.open_case(None, case if case and case.status is not CaseStatus.CLOSED else None,
                                            view, command, actor, now, policy)
            elif kind == "respond":
                decision = domain.respond(case, c.RespondToCase(
                    case_id=case.case_id, response=response,
                    amount=Money(amount=amount) if response is MerchantResponse.COUNTER_OFFER else None), actor, now, policy)
            elif kind == "answer":
                decision = domain.answer_counter_offer(case, c.AnswerCounterOffer(case_id=case.case_id, accept=flag),
                                                       actor, now, policy)
            elif kind == "escalate":
                decision = domain.escalate(case, c.EscalateCase(case_id=case.case_id), actor, view, now, policy)
            elif kind == "rule":
                decision = domain.rule(case, c.RuleOnCase(
                    case_id=case.case_id, decision=ruling, reasons="r", return_required=flag,
                    amount=Money(amount=amount) if ruling is RulingDecision.PARTIAL_REFUND else None), actor, view, now, policy)
            elif kind == "waybill":
                decision = domain.record_return_shipment(case, c.RecordReturnShipment(
                    case_id=case.case_id, carrier="SF", tracking_no=f"SF{amount}"), actor, now, policy)
            elif kind == "returned":
                decision = domain.confirm_return_receipt(case, c.ConfirmReturnReceipt(case_id=case.case_id), actor, now)
            elif kind == "withdraw":
                decision = domain.withdraw(case, c.WithdrawCase(case_id=case.case_id), actor)
            elif kind == "feedback":
                decision = domain.submit_feedback(case, c.SubmitFeedback(
                    case_id=case.case_id, satisfied=flag, requested=None if flag else Money(amount=amount)),
                    actor, view, now, policy)
            elif kind == "deadline":
                decision = domain.merchant_deadline(case, now)
            elif kind == "day":
                running.pop(domain.VERIFY_DAYS[amount % 3], None)
                decision = domain.verification_day(case, 1 + amount % 3, now)
            else:  # escrow executes the oldest pending refund order, with some shortfall
                if not pending:
                    continue
                refund = pending.pop(0)
                if refund.refund_id in executed or refund.case_id != case.case_id:
                    continue
                executed.add(refund.refund_id)
                short = min(shortfall_cut, refund.amount.amount)
                decision = domain.refund_executed(case, refund.refund_id, refund.amount.amount - short, 0, short,
                                                  "other", 0, policy)
        except Rejected:
            continue
        if decision.case is not case and case is not None and decision.case.case_id != case.case_id:
            assert not running, "the previous case left timers running"
        case = decision.case
        for timer in decision.timers:
            if timer.due is None:
                running.pop(timer.kind, None)
            else:
                running[timer.kind] = timer.due
        if case.status is CaseStatus.CLOSED:
            assert not running, f"a closed case keeps timers: {running}"
        else:
            assert case.deadline is not None and case.deadline in running.values(), (case.status, running)
        for event in decision.events:
            if isinstance(event, c.RefundOrdered):
                pending.append(event)
                view = replace(view, committed=view.committed + event.amount.amount)
            if isinstance(event, c.CompensationGranted):
                compensations.append(event.refund_id)
        assert view.committed <= paid
        assert case.refunded <= case.ordered <= paid
        assert case.compensated <= cap
    assert len(compensations) == len(set(compensations))
