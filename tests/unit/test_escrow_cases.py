"""Escrow's money side of dispute cases, pure: freezing and unfreezing holds, case refunds by waterfall,
priority compensation, insurer claims, and recovery from the merchant's later income."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow import domain
from shared.contracts import disputes, escrow
from shared.money import Money
from shared.unit_of_work import Rejected
from tests.unit.test_escrow_domain import BUYER, MERCHANT, NOW, _hold, _payment, _ship

# -- cases: freeze, case refunds, priority compensation, insurer claims, recovery ----------


CASE = dict(case_id="C-1", order_id="O-1", buyer_id="B-1", merchant_id="M-1")


def _refund_order(amount: int, refund_id: str = "CR-C-1-1") -> disputes.RefundOrdered:
    return disputes.RefundOrdered(**CASE, refund_id=refund_id, amount=Money(amount=amount), basis="agreed")


def _granted(amount: int, compensation_id: str = "CP-C-1-1") -> disputes.CompensationGranted:
    return disputes.CompensationGranted(**CASE, compensation_id=compensation_id, refund_id="CR-C-1-1",
                                        amount=Money(amount=amount), shortfall=amount, uncovered=0, claim_id="CL-C-1-1")


def _decided(approved: int, claimed: int = 12900) -> disputes.ClaimDecisionRecorded:
    return disputes.ClaimDecisionRecorded(**CASE, claim_id="CL-C-1-1", decision="partial", claimed=Money(amount=claimed),
                                          approved=Money(amount=approved))


def _lines(journal: domain.JournalEntry | None) -> dict[str, int]:
    assert journal is not None
    assert sum(line.amount for line in journal.lines) == 0
    return {line.account: line.amount for line in journal.lines}


def _frozen(hold: domain.Hold, at: datetime = NOW) -> domain.Hold:
    decision = domain.freeze(hold, "C-1", at)
    assert decision is not None
    return decision.hold


def test_a_case_freezes_a_shipped_hold_and_pauses_its_countdown_in_whole_seconds() -> None:
    shipped = _ship(_hold())
    decision = domain.freeze(shipped, "C-1", NOW + timedelta(days=2, microseconds=500_000))
    assert decision is not None
    assert decision.hold.frozen_by == "C-1"
    assert decision.hold.paused_seconds == 5 * 86_400 - 1  # 4 days 23:59:59.5 left: rounded down
    (event,) = decision.events
    assert isinstance(event, escrow.HoldFrozen)
    assert (event.case_id, event.paused_with_seconds, event.hold_id) == ("C-1", 5 * 86_400 - 1, "H-O-1")
    # an overdue countdown pauses at zero
    overdue = domain.freeze(shipped, "C-1", NOW + timedelta(days=9))
    assert overdue is not None and overdue.hold.paused_seconds == 0


def test_a_held_hold_freezes_without_a_countdown_and_nothing_else_freezes() -> None:
    decision = domain.freeze(_hold(), "C-1", NOW)
    assert decision is not None and decision.hold.frozen_by == "C-1" and decision.hold.paused_seconds is None
    assert decision.events[0].paused_with_seconds is None  # type: ignore[attr-defined]
    assert domain.freeze(None, "C-1", NOW) is None
    assert domain.freeze(decision.hold, "C-1", NOW) is None  # the same event again
    assert domain.freeze(decision.hold, "C-2", NOW) is None  # another case: the first one holds it
    released = domain.confirm_receipt(_ship(_hold()), escrow.ConfirmReceipt(order_id="O-1"), BUYER).hold
    assert domain.freeze(released, "C-1", NOW) is None  # after-sale case: nothing to freeze
    refunded = domain.refund_for_cancellation(_hold(), "O-1", 12900, "cancelled_by_buyer")
    assert isinstance(refunded, domain.HoldDecision) and domain.freeze(refunded.hold, "C-1", NOW) is None


def test_a_frozen_hold_neither_ships_nor_releases_nor_refunds_for_a_cancellation() -> None:
    held = _frozen(_hold())
    with pytest.raises(Rejected, match="hold_frozen"):
        domain.record_shipment(held, escrow.RecordShipment(order_id="O-1", carrier="SF", tracking_no="1"), MERCHANT, NOW)
    with pytest.raises(Rejected, match="hold_frozen"):
        domain.confirm_receipt(held, escrow.ConfirmReceipt(order_id="O-1"), BUYER)
    with pytest.raises(Rejected, match="hold_frozen"):
        domain.release(held, "buyer_confirmed")
    refused = domain.refund_for_cancellation(held, "O-1", 12900, "cancelled_by_buyer")
    assert isinstance(refused, escrow.RefundRefused) and refused.reason == "case_open"
    shipped = _frozen(_ship(_hold()))
    with pytest.raises(Rejected, match="hold_frozen"):
        domain.auto_confirm(shipped, NOW + timedelta(days=30))
    with pytest.raises(Rejected, match="hold_frozen"):
        domain.auto_confirm(shipped, NOW)  # frozen, not merely early
    with pytest.raises(Rejected, match="forbidden"):  # the actor is still checked first
        domain.confirm_receipt(shipped, escrow.ConfirmReceipt(order_id="O-1"), MERCHANT)


def test_closing_the_case_resumes_the_countdown_where_it_paused() -> None:
    frozen = _frozen(_ship(_hold()), NOW + timedelta(days=2))
    assert domain.unfreeze(frozen, "C-OTHER", NOW) is None  # not frozen by that case
    assert domain.unfreeze(_hold(), "C-1", NOW) is None
    closed_at = NOW + timedelta(days=20)
    decision = domain.unfreeze(frozen, "C-1", closed_at)
    assert decision is not None
    hold = decision.hold
    assert (hold.frozen_by, hold.paused_seconds, hold.status) == (None, None, domain.HoldStatus.SHIPPED)
    assert hold.auto_confirm_at == closed_at + timedelta(days=5)
    (event,) = decision.events
    assert isinstance(event, escrow.HoldUnfrozen)
    assert (event.case_id, event.remaining, event.auto_confirm_at) == ("C-1", 12900, closed_at + timedelta(days=5))
    with pytest.raises(Rejected, match="not_due"):
        domain.auto_confirm(hold, closed_at + timedelta(days=4))
    assert domain.auto_confirm(hold, closed_at + timedelta(days=5)).hold.status is domain.HoldStatus.RELEASED
    assert domain.unfreeze(hold, "C-1", closed_at) is None  # the same event again


def test_closing_the_case_of_a_held_or_fully_refunded_hold_sets_no_countdown() -> None:
    held = domain.unfreeze(_frozen(_hold()), "C-1", NOW)
    assert held is not None and held.hold.frozen_by is None and held.events[0].auto_confirm_at is None  # type: ignore[attr-defined]
    refunded = domain.execute_case_refund(_refund_order(12900), _frozen(_ship(_hold())), available=0).hold
    assert refunded is not None and refunded.status is domain.HoldStatus.REFUNDED
    decision = domain.unfreeze(refunded, "C-1", NOW)
    assert decision is not None
    (event,) = decision.events
    assert isinstance(event, escrow.HoldUnfrozen) and (event.remaining, event.auto_confirm_at) == (0, None)
    assert decision.hold.status is domain.HoldStatus.REFUNDED and decision.hold.frozen_by is None


def test_a_case_refund_within_the_hold_comes_all_from_the_hold() -> None:
    frozen = _frozen(_ship(_hold()))
    executed = domain.execute_case_refund(_refund_order(3800), frozen, available=50_000)
    assert (executed.from_hold, executed.from_merchant, executed.shortfall) == (3800, 0, 0)
    assert executed.entry is not None and executed.entry.kind == "case_refund"
    assert _lines(executed.entry) == {domain.ESCROW_HOLDING: 3800, "buyer_refunds_payable:B-1": -3800}
    assert executed.hold is not None and executed.hold.remaining == 9100 and executed.hold.status is domain.HoldStatus.SHIPPED
    assert executed.hold.frozen_by == "C-1"  # still frozen until the case closes
    assert executed.refund is not None
    assert (executed.refund.refund_id, executed.refund.amount.amount, executed.refund.buyer_ref) == ("RF-CR-C-1-1", 3800, "B-1")
    refunded, done = executed.events
    assert isinstance(refunded, escrow.HoldRefunded) and (refunded.reason, refunded.remaining) == ("case_refund", 9100)
    assert isinstance(done, escrow.CaseRefundExecuted)
    assert (done.from_hold, done.from_merchant, done.shortfall, done.provider_refund_id) == (3800, 0, 0, "RF-CR-C-1-1")


def test_a_case_refund_beyond_the_hold_takes_the_rest_from_the_merchant_then_reports_a_shortfall() -> None:
    partly = domain.execute_case_refund(_refund_order(15000), _frozen(_hold()), available=5000)
    assert (partly.from_hold, partly.from_merchant, partly.shortfall) == (12900, 2100, 0)
    assert _lines(partly.entry) == {domain.ESCROW_HOLDING: 12900, "merchant_available:M-1": 2100,
                                    "buyer_refunds_payable:B-1": -15000}
    assert partly.hold is not None and partly.hold.status is domain.HoldStatus.REFUNDED
    short = domain.execute_case_refund(_refund_order(15000), _frozen(_hold()), available=1000)
    assert (short.from_hold, short.from_merchant, short.shortfall) == (12900, 1000, 1100)
    assert short.refund is not None and short.refund.amount.amount == 13900
    # a merchant in debit (a negative available balance) gives nothing
    overdrawn = domain.execute_case_refund(_refund_order(15000), _frozen(_hold()), available=-300)
    assert (overdrawn.from_hold, overdrawn.from_merchant, overdrawn.shortfall) == (12900, 0, 2100)


def test_a_case_refund_after_release_comes_from_the_merchant_and_nothing_covered_asks_nothing() -> None:
    released = domain.confirm_receipt(_ship(_hold()), escrow.ConfirmReceipt(order_id="O-1"), BUYER).hold
    executed = domain.execute_case_refund(_refund_order(3800), released, available=2000)
    assert (executed.from_hold, executed.from_merchant, executed.shortfall) == (0, 2000, 1800)
    assert executed.hold is None  # the released hold is untouched
    assert _lines(executed.entry) == {"merchant_available:M-1": 2000, "buyer_refunds_payable:B-1": -2000}
    assert [type(e) for e in executed.events] == [escrow.CaseRefundExecuted]
    nothing = domain.execute_case_refund(_refund_order(3800), None, available=0)
    assert (nothing.entry, nothing.refund, nothing.hold) == (None, None, None)
    (event,) = nothing.events
    assert isinstance(event, escrow.CaseRefundExecuted)
    assert (event.from_hold, event.from_merchant, event.shortfall, event.provider_refund_id) == (0, 0, 3800, None)


def test_compensation_pays_the_buyer_from_the_pool_and_books_what_the_merchant_owes() -> None:
    granted = domain.grant_compensation(_granted(1800), owed=500)
    assert granted is not None
    assert granted.paid.kind == "compensation_paid" and granted.recovery.kind == "recovery_booked"
    assert _lines(granted.paid) == {domain.COMPENSATION_POOL: 1800, "buyer_refunds_payable:B-1": -1800}
    assert _lines(granted.recovery) == {"merchant_recovery_receivable:M-1": 1800, domain.COMPENSATION_POOL: -1800}
    assert (granted.refund.refund_id, granted.refund.amount.amount, granted.refund.buyer_ref) == ("RF-CP-C-1-1", 1800, "B-1")
    assert (granted.event.merchant_owes, granted.event.provider_refund_id) == (2300, "RF-CP-C-1-1")
    assert domain.grant_compensation(_granted(0), owed=0) is None


def test_the_insurers_approval_covers_what_the_merchant_owes_and_returns_any_excess() -> None:
    partial = domain.claim_approved(_decided(1000), owed=1800)
    assert _lines(partial) == {domain.INSURER_RECEIVABLE: 1000, "merchant_recovery_receivable:M-1": -1000}
    # the merchant already repaid 1300 of 1800 from later income: 500 owed, the other 1300 goes back to it
    excess = domain.claim_approved(_decided(1800), owed=500)
    assert _lines(excess) == {domain.INSURER_RECEIVABLE: 1800, "merchant_recovery_receivable:M-1": -500,
                              "merchant_available:M-1": -1300}
    assert domain.claim_approved(_decided(0), owed=1800) is None
    paid = domain.claim_paid(disputes.ClaimPaymentRecorded(**CASE, claim_id="CL-C-1-1", amount=Money(amount=1000)))
    assert _lines(paid) == {domain.PSP_CLEARING: 1000, domain.INSURER_RECEIVABLE: -1000}


def test_a_release_repays_what_the_merchant_owes_first() -> None:
    shipped = _ship(_hold())
    partial = domain.confirm_receipt(shipped, escrow.ConfirmReceipt(order_id="O-1"), BUYER, owed=5000)
    assert _lines(partial.entry) == {domain.ESCROW_HOLDING: 12900, "merchant_recovery_receivable:M-1": -5000,
                                     "merchant_available:M-1": -7823, domain.PLATFORM_FEES: -77}
    released, repaid = partial.events
    assert isinstance(released, escrow.HoldReleased) and (released.net, released.recovered) == (12823, 5000)
    assert isinstance(repaid, escrow.RecoveryRepaid)
    assert (repaid.amount.amount, repaid.merchant_owes, repaid.order_id) == (5000, 0, "O-1")
    full = domain.auto_confirm(shipped, NOW + timedelta(days=7), owed=20_000)
    assert _lines(full.entry) == {domain.ESCROW_HOLDING: 12900, "merchant_recovery_receivable:M-1": -12823,
                                  domain.PLATFORM_FEES: -77}
    assert full.events[0].recovered == 12823 and full.events[1].merchant_owes == 20_000 - 12823  # type: ignore[attr-defined]
    clean = domain.release(shipped, "buyer_confirmed", owed=0)
    assert [type(e) for e in clean.events] == [escrow.HoldReleased] and clean.events[0].recovered == 0  # type: ignore[attr-defined]


def test_a_direct_payment_repays_what_the_merchant_owes_first() -> None:
    booked = domain.capture(_payment(12900, 77, False), already_captured=False, owed=3000)
    assert booked is not None
    assert _lines(booked.entry) == {domain.PSP_CLEARING: 12900, "merchant_recovery_receivable:M-1": -3000,
                                    "merchant_available:M-1": -9823, domain.PLATFORM_FEES: -77}
    credited, repaid = booked.events
    assert isinstance(credited, escrow.MerchantCredited) and (credited.net, credited.recovered) == (12823, 3000)
    assert isinstance(repaid, escrow.RecoveryRepaid) and repaid.merchant_owes == 0
    held = domain.capture(_payment(12900, 77, True), already_captured=False, owed=3000)
    assert held is not None and [type(e) for e in held.events] == [escrow.HoldCreated]  # a hold repays on release


CASE_ACTIONS = st.lists(st.one_of(
    st.sampled_from(["ship", "confirm", "auto_late", "cancel", "open", "close"]),
    st.tuples(st.just("case_refund"), st.integers(0, 2 * 10**9)),
    st.tuples(st.just("compensate"), st.integers(0, 10**9)),
    st.tuples(st.just("approve"), st.integers(0, 10**9)),
), max_size=14)


@given(st.integers(1, 10**9), st.integers(0, 10_000), st.integers(0, 10**9), CASE_ACTIONS)
def test_any_sequence_with_cases_keeps_money_whole(amount: int, rate_bp: int, merchant_start: int,
                                                   actions: list[str | tuple[str, int]]) -> None:
    """Commands, freezes, case refunds, compensation and insurer approvals in any order: the ledger balances,
    released + refunded never exceeds what was captured, a frozen hold never releases, and every case
    refund is covered or reported short to the fen."""
    fee = amount * rate_bp // 10_000
    booked = domain.capture(_payment(amount, fee, True), already_captured=False)
    assert booked is not None and booked.hold is not None
    hold = booked.hold
    balances: dict[str, int] = {"merchant_available:M-1": -merchant_start, domain.PSP_CLEARING: merchant_start}

    def post(journal: domain.JournalEntry | None) -> None:
        if journal is not None:
            for line in journal.lines:
                balances[line.account] = balances.get(line.account, 0) + line.amount

    post(booked.entry)
    for n, action in enumerate(actions):
        owed = balances.get("merchant_recovery_receivable:M-1", 0)
        available = -balances.get("merchant_available:M-1", 0)
        try:
            if action == "ship":
                decision = domain.record_shipment(hold, escrow.RecordShipment(order_id="O-1", carrier="SF", tracking_no="1"), MERCHANT, NOW)
            elif action == "confirm":
                decision = domain.confirm_receipt(hold, escrow.ConfirmReceipt(order_id="O-1"), BUYER, owed)
            elif action == "auto_late":
                decision = domain.auto_confirm(hold, NOW + timedelta(days=30), owed)
            elif action == "cancel":
                outcome = domain.refund_for_cancellation(hold, "O-1", hold.remaining, "cancelled_by_buyer")
                if isinstance(outcome, escrow.RefundRefused):
                    continue
                decision = outcome
            elif action in ("open", "close"):
                maybe = (domain.freeze if action == "open" else domain.unfreeze)(hold, "C-1", NOW)
                if maybe is None:
                    continue
                decision = maybe
            elif action[0] == "case_refund":
                executed = domain.execute_case_refund(_refund_order(action[1], f"CR-{n}"), hold, available)
                assert executed.from_hold + executed.from_merchant + executed.shortfall == action[1]
                assert 0 <= executed.from_merchant <= max(0, available)
                hold = executed.hold or hold
                post(executed.entry)
                continue
            elif action[0] == "compensate":
                granted = domain.grant_compensation(_granted(action[1], f"CP-{n}"), owed)
                if granted is not None:
                    post(granted.paid)
                    post(granted.recovery)
                    assert granted.event.merchant_owes == balances["merchant_recovery_receivable:M-1"]
                continue
            else:
                post(domain.claim_approved(_decided(action[1]), owed))
                continue
        except Rejected:
            continue
        if decision.entry is not None and decision.hold.status is domain.HoldStatus.RELEASED:
            assert hold.frozen_by is None
        hold = decision.hold
        post(decision.entry)
        assert hold.remaining >= 0 and hold.released + hold.refunded <= hold.captured
    assert sum(balances.values()) == 0
    assert balances.get(domain.ESCROW_HOLDING, 0) == -hold.remaining
    assert balances.get(domain.COMPENSATION_POOL, 0) == 0
    assert hold.released + hold.refunded + hold.remaining == hold.captured
    assert balances.get("merchant_available:M-1", 0) <= 0  # the waterfall never overdraws the merchant
