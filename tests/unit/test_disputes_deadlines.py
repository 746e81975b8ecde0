"""Every waiting state of a dispute case has a deadline, pure: the buyer's answer to a counter-offer, the
arbitration and the supervisors' queue with the default ruling, the return step of a refund on return, a
cancellation made a case; and over any path through a case, a running deadline, and the timers alone close it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.disputes import domain
from shared.contracts import disputes as c
from shared.contracts.disputes import CaseReason, CaseStatus, MerchantResponse, RulingDecision
from shared.money import Money
from shared.unit_of_work import Rejected
from tests.unit.test_disputes_domain import ARBITRATOR, BUYER, MERCHANT, NOW, POLICY, fire, opened, order, respond, types


# -- deadlines of every waiting state -------------------------------------------------------------


def test_a_counter_offer_announces_the_buyers_deadline_and_silence_accepts_it() -> None:
    countered = respond(opened(12900), MerchantResponse.COUNTER_OFFER, 6000)
    event = countered.events[0]
    assert isinstance(event, c.MerchantResponded) and event.answer_by == NOW + timedelta(hours=72)
    assert countered.case.status is CaseStatus.AWAITING_BUYER and countered.case.deadline == NOW + timedelta(hours=72)
    assert [t for t in countered.timers if t.due] == [domain.Timer(domain.COUNTER_OFFER_DEADLINE, NOW + timedelta(hours=72))]
    assert domain.Timer(domain.MERCHANT_DEADLINE, None) in countered.timers
    with pytest.raises(Rejected, match="not_due"):
        domain.counter_offer_lapsed(countered.case, NOW + timedelta(hours=71))
    lapsed = domain.counter_offer_lapsed(countered.case, NOW + timedelta(hours=72))
    assert types(lapsed) == ["disputes.negotiation.agreed", "disputes.refund.ordered", "disputes.verification.started"]
    agreed, ordered = lapsed.events[0], lapsed.events[1]
    assert isinstance(agreed, c.NegotiationAgreed) and (agreed.how, agreed.amount.amount) == ("buyer_silent", 6000)
    assert isinstance(ordered, c.RefundOrdered) and ordered.amount.amount == 6000
    assert lapsed.case.status is CaseStatus.VERIFYING and lapsed.case.counter_offer is None
    with pytest.raises(Rejected, match="illegal_transition"):  # too late to answer
        domain.answer_counter_offer(lapsed.case, c.AnswerCounterOffer(case_id="C-1", accept=False), BUYER, NOW, POLICY)
    with pytest.raises(Rejected, match="nothing_due"):  # the timer of a case that moved on finds nothing to do
        domain.counter_offer_lapsed(lapsed.case, NOW + timedelta(days=9))
    answered = domain.answer_counter_offer(countered.case, c.AnswerCounterOffer(case_id="C-1", accept=False), BUYER, NOW, POLICY)
    assert domain.Timer(domain.COUNTER_OFFER_DEADLINE, None) in answered.timers


# Monday 23 November 2026, 16:00 China time: five business days later is Monday 30 November, 18:00 China time.
RULE_BY = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
DEFAULT_AT = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


def test_business_day_deadlines_end_the_working_day_and_a_year_without_calendar_data_counts_weekdays(
        monkeypatch: pytest.MonkeyPatch) -> None:
    friday = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # 10:00 in China
    assert POLICY.business_days_after(friday, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)  # Monday 18:00
    from services.disputes import cases
    from shared.business_days import CalendarUnavailable

    def unavailable(*_: object, **__: object) -> datetime:
        raise CalendarUnavailable(2031)

    monkeypatch.setattr(cases, "business_days_later", unavailable)
    assert POLICY.business_days_after(friday, 5) == datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)  # weekdays only


def escalated(reason: CaseReason = CaseReason.NOT_RECEIVED, evidence: bool = False) -> domain.Case:
    failed = respond(opened(12900, reason, evidence), MerchantResponse.REJECT).case
    decision = domain.escalate(failed, c.EscalateCase(case_id="C-1"), BUYER, order(shipped=True), NOW, POLICY)
    event = decision.events[0]
    assert isinstance(event, c.CaseEscalated) and event.rule_by == RULE_BY == decision.case.deadline
    assert [t for t in decision.timers if t.due] == [domain.Timer(domain.ARBITRATION_DEADLINE, RULE_BY)]
    return decision.case


def test_an_overdue_arbitration_goes_to_the_supervisors_then_the_default_ruling_applies() -> None:
    case = escalated()
    with pytest.raises(Rejected, match="not_due"):
        domain.arbitration_overdue(case, order(shipped=True), RULE_BY - timedelta(minutes=1), POLICY)
    overdue = domain.arbitration_overdue(case, order(shipped=True), RULE_BY, POLICY)
    (event,) = overdue.events
    assert isinstance(event, c.ArbitrationOverdue)
    assert (event.rule_by, event.default_ruling_at) == (RULE_BY, DEFAULT_AT)
    assert (event.default_ruling.rule, event.default_ruling.amount.amount) == ("R1-not-delivered", 12900)
    assert overdue.case.status is CaseStatus.IN_ARBITRATION and overdue.case.overdue_since == RULE_BY
    assert [t for t in overdue.timers if t.due] == [domain.Timer(domain.DEFAULT_RULING, DEFAULT_AT)]
    with pytest.raises(Rejected, match="nothing_due"):  # announced once
        domain.arbitration_overdue(overdue.case, order(shipped=True), DEFAULT_AT, POLICY)
    with pytest.raises(Rejected, match="not_due"):
        domain.apply_default_ruling(overdue.case, order(shipped=True), DEFAULT_AT - timedelta(minutes=1), POLICY)
    ruled = domain.apply_default_ruling(overdue.case, order(shipped=True), DEFAULT_AT, POLICY)
    assert types(ruled) == ["disputes.case.ruled", "disputes.refund.ordered", "disputes.verification.started"]
    ruling = ruled.events[0]
    assert isinstance(ruling, c.CaseRuled) and ruling.by_default and ruling.arbitrator_id == "system"
    assert (ruling.decision, ruling.amount.amount, ruling.followed_rule) == (RulingDecision.FULL_REFUND, 12900, "R1-not-delivered")
    assert "R1-not-delivered" in ruling.reasons
    assert ruled.case.status is CaseStatus.VERIFYING and ruled.case.overdue_since is None


def test_an_arbitrator_may_still_rule_an_overdue_case_and_a_case_no_rule_covers_is_refused_by_default() -> None:
    overdue = domain.arbitration_overdue(escalated(), order(shipped=True), RULE_BY, POLICY).case
    ruled = domain.rule(overdue, c.RuleOnCase(case_id="C-1", decision=RulingDecision.PARTIAL_REFUND, amount=Money(amount=500),
                                              reasons="r"), ARBITRATOR, order(shipped=True), RULE_BY, POLICY)
    assert ruled.events[0].by_default is False and domain.Timer(domain.DEFAULT_RULING, None) in ruled.timers  # type: ignore[attr-defined]
    unproven = domain.arbitration_overdue(escalated(CaseReason.OTHER, True), order(shipped=True), RULE_BY, POLICY)
    assert unproven.events[0].default_ruling.rule == "R0-unproven"  # type: ignore[attr-defined]
    refused = domain.apply_default_ruling(unproven.case, order(shipped=True), DEFAULT_AT, POLICY)
    assert types(refused) == ["disputes.case.ruled", "disputes.verification.started"]
    assert refused.events[0].decision is RulingDecision.REJECT and refused.events[0].amount.amount == 0  # type: ignore[attr-defined]


def ruled_on_return(when: datetime = NOW) -> domain.CaseDecision:
    case = escalated(CaseReason.NOT_AS_DESCRIBED, True)
    command = c.RuleOnCase(case_id="C-1", decision=RulingDecision.FULL_REFUND, reasons="货不对板", return_required=True)
    return domain.rule(case, command, ARBITRATOR, order(shipped=True), when, POLICY)


def test_a_refund_on_return_waits_for_the_waybill_and_the_merchants_confirmation() -> None:
    ruled = ruled_on_return()
    assert types(ruled) == ["disputes.case.ruled", "disputes.return.requested"]  # no refund ordered yet
    assert ruled.events[0].followed_rule == "R2-not-as-described"  # type: ignore[attr-defined]
    requested = ruled.events[1]
    assert isinstance(requested, c.ReturnRequested) and requested.return_by == NOW + timedelta(days=7)
    assert requested.amount.amount == 12900 and ruled.case.status is CaseStatus.AWAITING_RETURN and ruled.case.ordered == 0
    assert [t for t in ruled.timers if t.due] == [domain.Timer(domain.RETURN_SHIPMENT_DEADLINE, NOW + timedelta(days=7))]
    waybill = c.RecordReturnShipment(case_id="C-1", carrier="SF", tracking_no="SF77")
    with pytest.raises(Rejected, match="forbidden"):
        domain.record_return_shipment(ruled.case, waybill, MERCHANT, NOW, POLICY)
    shipped = domain.record_return_shipment(ruled.case, waybill, BUYER, NOW + timedelta(days=2), POLICY)
    event = shipped.events[0]
    assert isinstance(event, c.ReturnShipped) and event.confirm_by == NOW + timedelta(days=12) and event.tracking_no == "SF77"
    assert shipped.case.status is CaseStatus.RETURN_IN_TRANSIT and shipped.case.return_tracking_no == "SF77"
    assert [t for t in shipped.timers if t.due] == [domain.Timer(domain.RETURN_RECEIPT_DEADLINE, NOW + timedelta(days=12))]
    with pytest.raises(Rejected, match="forbidden"):
        domain.confirm_return_receipt(shipped.case, c.ConfirmReturnReceipt(case_id="C-1"), BUYER, NOW)
    with pytest.raises(Rejected, match="illegal_transition"):
        domain.withdraw(shipped.case, c.WithdrawCase(case_id="C-1"), BUYER)
    back = domain.confirm_return_receipt(shipped.case, c.ConfirmReturnReceipt(case_id="C-1"), MERCHANT, NOW + timedelta(days=5))
    assert types(back) == ["disputes.return.received", "disputes.refund.ordered", "disputes.verification.started"]
    assert back.events[0].how == "merchant_confirmed" and back.events[1].amount.amount == 12900  # type: ignore[attr-defined]
    assert back.case.status is CaseStatus.VERIFYING and back.case.ordered == 12900


def test_goods_not_confirmed_in_time_count_as_received_and_goods_never_sent_close_the_case() -> None:
    ruled = ruled_on_return()
    shipped = domain.record_return_shipment(ruled.case, c.RecordReturnShipment(case_id="C-1", carrier="SF", tracking_no="SF7"),
                                            BUYER, NOW, POLICY).case
    with pytest.raises(Rejected, match="not_due"):
        domain.return_receipt_lapsed(shipped, NOW + timedelta(days=9))
    received = domain.return_receipt_lapsed(shipped, NOW + timedelta(days=10))
    assert received.events[0].how == "deadline_passed" and received.events[1].amount.amount == 12900  # type: ignore[attr-defined]
    with pytest.raises(Rejected, match="not_due"):
        domain.return_shipment_lapsed(ruled.case, NOW + timedelta(days=6))
    lapsed = domain.return_shipment_lapsed(ruled.case, NOW + timedelta(days=7))
    closed = lapsed.events[-1]
    assert isinstance(closed, c.CaseClosed) and closed.outcome == "return_not_shipped" and closed.refunded.amount == 0
    assert not any(isinstance(e, c.RefundOrdered) for e in lapsed.events) and not [t for t in lapsed.timers if t.due]
    with pytest.raises(Rejected, match="nothing_due"):  # the waybill came first: the shipment deadline finds nothing
        domain.return_shipment_lapsed(shipped, NOW + timedelta(days=7))


def test_the_default_ruling_of_a_refund_on_return_also_waits_for_the_goods() -> None:
    overdue = domain.arbitration_overdue(escalated(CaseReason.DAMAGED, True), order(shipped=True), RULE_BY, POLICY).case
    ruled = domain.apply_default_ruling(overdue, order(shipped=True), DEFAULT_AT, POLICY)
    assert types(ruled) == ["disputes.case.ruled", "disputes.return.requested"]
    assert ruled.events[0].return_required and ruled.events[0].followed_rule == "R3-damaged"  # type: ignore[attr-defined]


def test_a_rejection_needs_no_return_even_if_the_arbitrator_asks_for_one() -> None:
    case = escalated(CaseReason.NOT_AS_DESCRIBED, True)
    ruled = domain.rule(case, c.RuleOnCase(case_id="C-1", decision=RulingDecision.REJECT, reasons="r", return_required=True),
                        ARBITRATOR, order(shipped=True), NOW, POLICY)
    assert types(ruled) == ["disputes.case.ruled", "disputes.verification.started"]
    assert ruled.events[0].return_required is False  # type: ignore[attr-defined]


def test_a_cancellation_the_merchant_cannot_refund_becomes_an_agreed_case() -> None:
    from shared.contracts.escrow import RefundRefused

    direct = order(guaranteed=False)
    refused = RefundRefused(order_id="O-1", reason="merchant_balance_short")
    decision = domain.open_for_cancellation(None, None, direct, refused, NOW)
    assert decision is not None
    assert types(decision) == ["disputes.case.opened", "disputes.negotiation.agreed", "disputes.refund.ordered",
                               "disputes.verification.started"]
    opened_, agreed = decision.events[0], decision.events[1]
    assert isinstance(opened_, c.CaseOpened) and opened_.origin == "cancellation" and opened_.case_id == "CX-O-1"
    assert isinstance(agreed, c.NegotiationAgreed) and (agreed.how, agreed.amount.amount) == ("cancelled_before_shipment", 12900)
    assert decision.case.status is CaseStatus.VERIFYING
    assert domain.open_for_cancellation(decision.case, None, direct, refused, NOW) is None  # told twice: one case
    assert domain.open_for_cancellation(None, opened(), direct, refused, NOW) is None  # a case is open on the order
    assert domain.open_for_cancellation(None, None, order(committed=12900), refused, NOW) is None  # nothing left
    assert len(domain.cancellation_case_id("O-" + "9" * 62)) <= 64 < len("CX-O-" + "9" * 62)


# -- any path through a case ---------------------------------------------------------------------


def _moves(case: domain.Case, view: domain.OrderView, now: datetime) -> dict[str, Any]:
    """What the parties and the platform may do in the case's state (each a function of nothing, or of an amount)."""
    moves: dict[str, Any] = {}
    cid = case.case_id
    if case.status is CaseStatus.AWAITING_MERCHANT:
        moves["accept"] = lambda n: respond(case, MerchantResponse.ACCEPT, at=now)
        moves["reject"] = lambda n: respond(case, MerchantResponse.REJECT, at=now)
        if case.requested > 1:
            moves["counter"] = lambda n: respond(case, MerchantResponse.COUNTER_OFFER, 1 + n % (case.requested - 1), at=now)
    if case.status is CaseStatus.AWAITING_BUYER:
        moves["take"] = lambda n: domain.answer_counter_offer(case, c.AnswerCounterOffer(case_id=cid, accept=True), BUYER, now, POLICY)
        moves["refuse"] = lambda n: domain.answer_counter_offer(case, c.AnswerCounterOffer(case_id=cid, accept=False), BUYER, now, POLICY)
    if case.status is CaseStatus.NEGOTIATION_FAILED:
        moves["escalate"] = lambda n: domain.escalate(case, c.EscalateCase(case_id=cid), BUYER, view, now, POLICY)
    if case.status is CaseStatus.IN_ARBITRATION:
        for decision in RulingDecision:
            moves[f"rule-{decision.value}"] = lambda n, d=decision: domain.rule(case, c.RuleOnCase(
                case_id=cid, decision=d, reasons="r", return_required=n % 2 == 0,
                amount=Money(amount=1 + n % view.refundable) if d is RulingDecision.PARTIAL_REFUND else None),
                ARBITRATOR, view, now, POLICY)
    if case.status is CaseStatus.AWAITING_RETURN:
        moves["waybill"] = lambda n: domain.record_return_shipment(
            case, c.RecordReturnShipment(case_id=cid, carrier="SF", tracking_no=f"SF{n}"), BUYER, now, POLICY)
    if case.status in (CaseStatus.AWAITING_RETURN, CaseStatus.RETURN_IN_TRANSIT):
        moves["returned"] = lambda n: domain.confirm_return_receipt(case, c.ConfirmReturnReceipt(case_id=cid), MERCHANT, now)
    if case.status is CaseStatus.VERIFYING and view.refundable > 0:
        moves["unsatisfied"] = lambda n: domain.submit_feedback(case, c.SubmitFeedback(
            case_id=cid, satisfied=False, requested=Money(amount=1 + n % view.refundable)), BUYER, view, now, POLICY)
    return moves


@settings(max_examples=300, deadline=None)
@given(data=st.data(), reason=st.sampled_from(list(CaseReason)), evidence=st.booleans())
def test_every_path_keeps_a_running_deadline_and_the_timers_alone_close_the_case(data: st.DataObject, reason: CaseReason,
                                                                                  evidence: bool) -> None:
    """Parties acting in any order the states allow, and timers firing in between: while the case is open, the
    deadline of the state it waits in is a running timer and was announced by the event that entered the state;
    every refund follows its goods back when the ruling wants them; and from any state, firing the timers alone
    (nobody acting) closes the case within a few deadlines."""
    view = order(paid=12900, shipped=True)
    case = opened(12900, reason, evidence, view)
    now, running = NOW, {domain.MERCHANT_DEADLINE: case.respond_by}
    announced = case.respond_by

    def apply(decision: domain.CaseDecision) -> None:
        nonlocal case, view, announced
        case = decision.case
        for timer in decision.timers:
            if timer.due is None:
                running.pop(timer.kind, None)
            else:
                running[timer.kind] = timer.due
        for event in decision.events:
            if isinstance(event, c.RefundOrdered):
                view = replace(view, committed=view.committed + event.amount.amount)
            stamp = getattr(event, c.DEADLINES.get(event.TYPE, "-"), None)  # type: ignore[attr-defined]
            if stamp is not None:
                announced = stamp
        if case.status is CaseStatus.CLOSED:
            assert not running
        else:
            assert case.deadline is not None and case.deadline in running.values(), (case.status, running)
            assert announced == case.deadline, (case.status, announced, case.deadline)
        if any(isinstance(e, c.CaseRuled) and e.return_required for e in decision.events):
            assert not any(isinstance(e, c.RefundOrdered) for e in decision.events)  # not before the goods are back

    def tick() -> None:
        nonlocal now
        kind = min(running, key=lambda k: running[k])
        now = max(now, running.pop(kind))
        try:
            apply(fire(kind, case, view, now, POLICY))
        except Rejected:
            pass

    for _ in range(data.draw(st.integers(0, 20), label="acts")):
        if case.status is CaseStatus.CLOSED:
            return
        moves = _moves(case, view, now)
        choice = data.draw(st.sampled_from(["wait", *sorted(moves)]), label="move")
        now += timedelta(hours=data.draw(st.integers(0, 30), label="hours"))
        if choice == "wait" or now >= min(running.values()):
            tick()
            continue
        apply(moves[choice](data.draw(st.integers(0, 10**6), label="n")))
    for _ in range(8):  # nobody acts any more
        if case.status is CaseStatus.CLOSED:
            return
        tick()
    raise AssertionError(f"the case stalled in {case.status}")

