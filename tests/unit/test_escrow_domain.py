from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow import domain
from shared.contracts import payments


def _payment(amount: int, fee: int, guaranteed: bool, order_id: str = "O-1") -> payments.PaymentSucceeded:
    return payments.PaymentSucceeded(
        order_id=order_id, intent_id="PI-1", merchant_id="M-1", buyer_id="B-1",
        amount={"amount": amount, "currency": "CNY"}, fee=fee, guaranteed=guaranteed, auto_confirm_days=7,
        method="qr_code", provider_txn_id="PSP-1",
    )


def test_a_guaranteed_payment_is_held_in_full() -> None:
    booked = domain.capture(_payment(12900, 77, True), already_captured=False)
    assert booked is not None and booked.hold is not None
    assert booked.hold.captured == 12900 and booked.hold.remaining == 12900
    assert {(line.account, line.amount) for line in booked.entry.lines} == {
        (domain.PSP_CLEARING, 12900), (domain.ESCROW_HOLDING, -12900)}


def test_a_direct_payment_goes_to_the_merchant_less_the_fee() -> None:
    booked = domain.capture(_payment(12900, 77, False), already_captured=False)
    assert booked is not None and booked.hold is None
    lines = {line.account: line.amount for line in booked.entry.lines}
    assert lines == {domain.PSP_CLEARING: 12900, "merchant_available:M-1": -12823, domain.PLATFORM_FEES: -77}


def test_a_payment_is_booked_once() -> None:
    assert domain.capture(_payment(100, 1, True), already_captured=True) is None


def test_unbalanced_entries_cannot_be_built() -> None:
    with pytest.raises(domain.UnbalancedEntry):
        domain.entry("broken", None, "CNY", ("a", 100), ("b", -99))
    with pytest.raises(domain.UnbalancedEntry):
        domain.capture(_payment(100, 101, False), already_captured=False)


def _late(amount: int, intent_id: str = "PI-O-1-1", order_id: str = "O-1", reason: str = "order_expired") -> payments.PaymentCapturedLate:
    return payments.PaymentCapturedLate(
        order_id=order_id, intent_id=intent_id, merchant_id="M-1", buyer_id="B-1",
        amount={"amount": amount, "currency": "CNY"}, provider_txn_id="PSP-2", reason=reason, message="…",
    )


CAPTURE_KINDS = st.sampled_from(["guaranteed", "direct", "late", "late_refunded", "late_again"])


@given(st.lists(st.tuples(st.integers(1, 10**9), st.integers(0, 10_000), CAPTURE_KINDS), max_size=40))
def test_any_sequence_of_captures_keeps_the_ledger_balanced(payments_: list[tuple[int, int, str]]) -> None:
    """Payments, and late captures (some refunded by the provider, some delivered twice): the ledger
    balances, the clearing account holds what came in and was not paid back, and a late capture
    touches no merchant balance or fee, and is owed to the buyer until the provider pays it back."""
    balances: dict[str, int] = {}
    booked_late: set[str] = set()
    for n, (amount, rate_bp, kind) in enumerate(payments_):
        fee = amount * rate_bp // 10_000
        if kind in ("guaranteed", "direct"):
            booked = domain.capture(_payment(amount, fee, kind == "guaranteed", f"O-{n}"), already_captured=False)
            assert booked is not None
            entries = [booked.entry]
        else:
            intent_id = f"PI-O-{n}-1"
            late = domain.book_late_capture(_late(amount, intent_id, f"O-{n}"), intent_id in booked_late)
            assert late is not None
            booked_late.add(intent_id)
            entries = [late.entry]
            if kind == "late_again":
                assert domain.book_late_capture(_late(amount, intent_id, f"O-{n}"), intent_id in booked_late) is None
            if kind == "late_refunded":
                paid_out, _ = domain.refund_paid_out(late.refund.refund_id, f"O-{n}", "B-1", late.refund.amount)
                entries.append(paid_out)
        for journal in entries:
            for line in journal.lines:
                balances[line.account] = balances.get(line.account, 0) + line.amount
    assert sum(balances.values()) == 0
    owed = sum(a for a, _, k in payments_ if k in ("late", "late_again"))
    assert balances.get(domain.PSP_CLEARING, 0) == sum(a for a, _, k in payments_ if k in ("guaranteed", "direct")) + owed
    assert balances.get(domain.ESCROW_HOLDING, 0) == -sum(a for a, _, k in payments_ if k == "guaranteed")
    assert balances.get(domain.buyer_refunds_payable("B-1"), 0) == -owed
    direct = [(a, a * r // 10_000) for a, r, k in payments_ if k == "direct"]
    assert balances.get("merchant_available:M-1", 0) == -sum(a - f for a, f in direct)
    assert balances.get(domain.PLATFORM_FEES, 0) == -sum(f for _, f in direct)


def test_a_late_capture_is_owed_to_the_buyer_refunded_through_the_provider_and_booked_once() -> None:
    booked = domain.book_late_capture(_late(12900), already_booked=False)
    assert booked is not None
    assert {(line.account, line.amount) for line in booked.entry.lines} == {
        (domain.PSP_CLEARING, 12900), ("buyer_refunds_payable:B-1", -12900)}
    assert booked.entry.kind == "late_capture" and booked.entry.order_id == "O-1"
    assert (booked.refund.refund_id, booked.refund.order_id, booked.refund.amount.amount, booked.refund.buyer_ref) == (
        "RFL-PI-O-1-1", "O-1", 12900, "B-1")
    (event,) = booked.events
    assert isinstance(event, escrow.LateCaptureBooked)
    assert (event.intent_id, event.refund_id, event.reason, event.amount.amount) == ("PI-O-1-1", "RFL-PI-O-1-1", "order_expired", 12900)
    assert booked.capture.status is domain.LateCaptureStatus.REFUND_REQUESTED
    assert domain.late_capture_refunded(booked.capture).status is domain.LateCaptureStatus.REFUNDED
    assert domain.book_late_capture(_late(12900), already_booked=True) is None
    paid_out, told = domain.refund_paid_out(booked.refund.refund_id, "O-1", "B-1", booked.refund.amount)
    assert {(line.account, line.amount) for line in paid_out.lines} == {
        ("buyer_refunds_payable:B-1", 12900), (domain.PSP_CLEARING, -12900)}
    assert isinstance(told, escrow.RefundPaidOut) and told.buyer_id == "B-1" and told.refund_id == "RFL-PI-O-1-1"
    assert "退款已原路退回" in told.message
    # two captures of one order (say attempts 1 and 2) are refunded separately
    other = domain.book_late_capture(_late(12900, intent_id="PI-O-1-2"), already_booked=False)
    assert other is not None and other.refund.refund_id != booked.refund.refund_id


# -- shipment, receipt and release ---------------------------------------------------------

from datetime import datetime, timedelta, timezone  # noqa: E402

from shared.contracts import escrow  # noqa: E402
from shared.envelope import Actor  # noqa: E402
from shared.unit_of_work import Rejected  # noqa: E402

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)
MERCHANT, BUYER = Actor(kind="merchant", id="M-1"), Actor(kind="buyer", id="B-1")


def _hold(amount: int = 12900, fee: int = 77) -> domain.Hold:
    booked = domain.capture(_payment(amount, fee, True), already_captured=False)
    assert booked is not None and booked.hold is not None
    return booked.hold


def _ship(hold: domain.Hold) -> domain.Hold:
    command = escrow.RecordShipment(order_id=hold.order_id, carrier="SF", tracking_no="SF123")
    return domain.record_shipment(hold, command, MERCHANT, NOW).hold


def test_shipment_starts_the_auto_confirm_countdown_and_only_the_merchant_ships() -> None:
    hold = _hold()
    with pytest.raises(Rejected, match="forbidden"):
        domain.record_shipment(hold, escrow.RecordShipment(order_id="O-1", carrier="SF", tracking_no="1"), BUYER, NOW)
    shipped = _ship(hold)
    assert shipped.status is domain.HoldStatus.SHIPPED
    assert shipped.auto_confirm_at == NOW + timedelta(days=7)
    with pytest.raises(Rejected, match="illegal_transition"):
        _ship(shipped)


def test_the_buyer_confirms_receipt_and_the_merchant_gets_the_money_less_the_fee() -> None:
    shipped = _ship(_hold())
    with pytest.raises(Rejected, match="forbidden"):
        domain.confirm_receipt(shipped, escrow.ConfirmReceipt(order_id="O-1"), MERCHANT)
    decision = domain.confirm_receipt(shipped, escrow.ConfirmReceipt(order_id="O-1"), BUYER)
    (released,) = decision.events
    assert isinstance(released, escrow.HoldReleased)
    assert (released.amount.amount, released.fee, released.net, released.reason) == (12900, 77, 12823, "buyer_confirmed")
    assert decision.entry is not None
    assert {(line.account, line.amount) for line in decision.entry.lines} == {
        (domain.ESCROW_HOLDING, 12900), ("merchant_available:M-1", -12823), (domain.PLATFORM_FEES, -77)}
    assert decision.hold.remaining == 0
    with pytest.raises(Rejected, match="already_settled"):
        domain.confirm_receipt(decision.hold, escrow.ConfirmReceipt(order_id="O-1"), BUYER)


def test_receipt_of_an_unshipped_order_cannot_be_confirmed() -> None:
    """"Confirm now and I'll ship": the buyer confirming before the shipment is recorded is refused, and nothing moves."""
    held = _hold()
    with pytest.raises(Rejected) as refused:
        domain.confirm_receipt(held, escrow.ConfirmReceipt(order_id="O-1"), BUYER)
    assert refused.value.reason == "not_shipped" and refused.value.aggregate_id == "O-1"
    with pytest.raises(Rejected, match="forbidden"):  # the actor is checked first
        domain.confirm_receipt(held, escrow.ConfirmReceipt(order_id="O-1"), MERCHANT)
    with pytest.raises(Rejected, match="nothing_to_confirm"):  # auto-confirm has nothing to do before shipment either
        domain.auto_confirm(held, NOW + timedelta(days=30))
    released = domain.confirm_receipt(_ship(held), escrow.ConfirmReceipt(order_id="O-1"), BUYER)
    assert released.hold.status is domain.HoldStatus.RELEASED


def test_auto_confirm_releases_only_when_due_and_only_a_shipped_hold() -> None:
    shipped = _ship(_hold())
    with pytest.raises(Rejected, match="not_due"):
        domain.auto_confirm(shipped, NOW + timedelta(days=6))
    decision = domain.auto_confirm(shipped, NOW + timedelta(days=7))
    assert decision.events[0].reason == "auto_confirmed"  # type: ignore[attr-defined]
    with pytest.raises(Rejected, match="nothing_to_confirm"):
        domain.auto_confirm(decision.hold, NOW + timedelta(days=8))


@given(st.integers(1, 10**9), st.integers(0, 10**4), st.integers(1, 10**9))
def test_a_partial_release_fee_is_proportional_and_never_exceeds_the_amount(captured: int, fee_bp: int, part: int) -> None:
    fee = captured * fee_bp // 10_000
    hold = domain.Hold(hold_id="H", order_id="O", merchant_id="M", buyer_id="B", captured=captured, currency="CNY",
                       fee=fee, auto_confirm_days=7)
    amount = min(part, captured)
    share = domain.release_fee(hold, amount)
    assert 0 <= share <= amount
    assert abs(share * captured - fee * amount) * 2 <= captured  # half-up: within half a fen


ACTIONS = st.lists(st.sampled_from(
    ["ship", "confirm", "confirm_by_merchant", "auto_early", "auto_late", "capture_again", "cancel", "cancel_wrong_amount"]), max_size=12)


@given(st.integers(1, 10**9), st.integers(0, 10_000), ACTIONS)
def test_any_sequence_of_hold_commands_keeps_money_whole(amount: int, rate_bp: int, actions: list[str]) -> None:
    """Whatever order commands arrive in: the ledger balances, the hold never goes negative,
    it settles at most once, released + refunded never exceeds what was captured, and nothing is
    released to the merchant before the shipment was recorded."""
    fee = amount * rate_bp // 10_000
    booked = domain.capture(_payment(amount, fee, True), already_captured=False)
    assert booked is not None and booked.hold is not None
    hold, entries, releases = booked.hold, [booked.entry], 0
    for action in actions:
        shipped_before = hold.status is not domain.HoldStatus.HELD
        try:
            if action == "ship":
                decision = domain.record_shipment(hold, escrow.RecordShipment(order_id="O-1", carrier="SF", tracking_no="1"), MERCHANT, NOW)
            elif action == "confirm":
                decision = domain.confirm_receipt(hold, escrow.ConfirmReceipt(order_id="O-1"), BUYER)
            elif action == "confirm_by_merchant":
                decision = domain.confirm_receipt(hold, escrow.ConfirmReceipt(order_id="O-1"), MERCHANT)
            elif action == "auto_early":
                decision = domain.auto_confirm(hold, NOW)
            elif action == "auto_late":
                decision = domain.auto_confirm(hold, NOW + timedelta(days=30))
            elif action.startswith("cancel"):
                asked = hold.remaining + (1 if action == "cancel_wrong_amount" else 0)
                outcome = domain.refund_for_cancellation(hold, "O-1", asked, "cancelled_by_buyer")
                if isinstance(outcome, escrow.RefundRefused):
                    continue
                decision = outcome
            else:
                assert domain.capture(_payment(amount, fee, True), already_captured=True) is None
                continue
        except Rejected:
            continue
        hold = decision.hold
        if decision.entry is not None:
            entries.append(decision.entry)
            releases += 1
        if hold.status is domain.HoldStatus.RELEASED:
            assert shipped_before, "released before any shipment"
        assert hold.remaining >= 0 and hold.released + hold.refunded <= hold.captured
    balances: dict[str, int] = {}
    for journal in entries:
        for line in journal.lines:
            balances[line.account] = balances.get(line.account, 0) + line.amount
    assert sum(balances.values()) == 0
    assert releases <= 1  # settled once: released or refunded, never both, never twice
    assert balances.get(domain.ESCROW_HOLDING, 0) == -hold.remaining
    if hold.status is domain.HoldStatus.REFUNDED:
        assert balances["buyer_refunds_payable:B-1"] == -amount
    if hold.status is domain.HoldStatus.RELEASED:
        assert balances.get("merchant_available:M-1", 0) + balances.get(domain.PLATFORM_FEES, 0) == -amount


def test_a_cancellation_refunds_the_whole_hold_before_shipment_only() -> None:
    hold = _hold()
    decision = domain.refund_for_cancellation(hold, "O-1", 12900, "cancelled_by_merchant")
    assert isinstance(decision, domain.HoldDecision)
    assert decision.hold.status is domain.HoldStatus.REFUNDED and decision.hold.remaining == 0
    assert decision.entry is not None and {(x.account, x.amount) for x in decision.entry.lines} == {
        (domain.ESCROW_HOLDING, 12900), ("buyer_refunds_payable:B-1", -12900)}
    refused = domain.refund_for_cancellation(_ship(hold), "O-1", 12900, "cancelled_by_buyer")
    assert isinstance(refused, escrow.RefundRefused) and refused.reason == "already_shipped"
    again = domain.refund_for_cancellation(decision.hold, "O-1", 12900, "cancelled_by_buyer")
    assert isinstance(again, escrow.RefundRefused) and again.reason == "already_settled"
    assert domain.refund_for_cancellation(None, "O-1", 1, "x").reason == "no_hold"  # type: ignore[union-attr]
    with pytest.raises(Rejected, match="invalid_amount"):
        domain.refund(hold, 12901, "too much")
