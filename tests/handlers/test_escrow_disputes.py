"""Escrow executing the money side of dispute cases, on FastStream's in-memory test broker: freezing and
unfreezing holds, case refunds by waterfall, priority compensation, insurer claims and recovery from later
income. Every disputes event is delivered twice (new event ids): one effect."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.escrow import store as escrow_store
from services.escrow.app import build as build_escrow
from shared import topics
from shared.contracts import disputes, psp
from shared.envelope import Payload
from shared.money import Money
from shared.timers import DurableTimer, as_utc
from tests.factories import confirm_receipt, disputes_event, encode, envelope, payment_succeeded, record_shipment
from tests.handlers.harness import serving
from shared.workspace import Workspace

ESCROW_EVENTS = topics.events("escrow")


@pytest.fixture
async def escrow(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build_escrow()) as running:
        yield running


async def sent(runtime: Any, type_: str, topic: str = ESCROW_EVENTS) -> list[dict[str, Any]]:
    """What escrow published of ``type_`` so far (every message was handled when ``publish`` returned)."""
    await runtime.relay.relay_once()
    return [m["body"] for m in runtime.sent if m["topic"] == topic and m["type"] == type_]


def case(order_id: str, case_id: str, *, buyer: str = "B-2001", merchant: str = "M-1001") -> dict[str, str]:
    return dict(case_id=case_id, order_id=order_id, buyer_id=buyer, merchant_id=merchant)


async def deliver(broker: Any, payload: Payload, order_id: str, times: int = 2) -> None:
    """A disputes event, delivered ``times`` times with new event ids."""
    for _ in range(times):
        document = disputes_event(payload.TYPE, payload.model_dump(mode="json"), order_id=order_id)  # type: ignore[attr-defined]
        await broker.publish(encode(document), topics.events("disputes"), key=order_id.encode())


def opened(order_id: str, case_id: str, **parties: str) -> disputes.CaseOpened:
    return disputes.CaseOpened(**case(order_id, case_id, **parties), reason="not_as_described", requested=Money(amount=3800),
                               paid=Money(amount=12900), description="有划痕", evidence=[], respond_by="2026-11-25T08:30:00Z")


def closed(order_id: str, case_id: str, refunded: int = 0, **parties: str) -> disputes.CaseClosed:
    return disputes.CaseClosed(**case(order_id, case_id, **parties), outcome="resolved", refunded=Money(amount=refunded),
                               compensated=0)


def refund_ordered(order_id: str, case_id: str, refund_id: str, amount: int, **parties: str) -> disputes.RefundOrdered:
    return disputes.RefundOrdered(**case(order_id, case_id, **parties), refund_id=refund_id, amount=Money(amount=amount),
                                  basis="agreed")


async def pay(broker: Any, order_id: str, *, amount: int = 12900, guaranteed: bool = True, **parties: str) -> None:
    document = payment_succeeded(order_id, amount=amount, **parties)
    document["data"]["guaranteed"] = guaranteed
    await broker.publish(encode(document), topics.events("payments"), key=order_id.encode())


async def provider_refunds(runtime: Any, broker: Any, request: dict[str, Any], times: int = 2) -> None:
    """The provider pays a requested refund back and says so ``times`` times."""
    data = request["data"]
    callback = psp.RefundCallback(refund_id=data["refund_id"], order_id=data["order_id"], amount=data["amount"],
                                  provider_txn_id=f"PSP-{data['refund_id']}", signature="")
    for _ in range(times):
        answer = envelope(callback.TYPE, callback.signed(runtime.settings.psp_callback_secret).model_dump(mode="json"),
                          actor=("system", "psp-simulator"))
        await broker.publish(encode(answer), topics.PSP_CALLBACKS, key=data["order_id"].encode())


async def balances(runtime: Any) -> dict[str, int]:
    async with runtime.db.transaction() as session:
        found = await escrow_store.balances(session)
    assert sum(found.values()) == 0
    return {account: amount for (account, _), amount in found.items() if amount != 0}


async def timer(runtime: Any, order_id: str) -> DurableTimer:
    async with runtime.db.transaction() as session:
        return (await session.exec(select(DurableTimer).where(DurableTimer.timer_id == f"auto-confirm:{order_id}"))).one()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_case_freezes_a_shipped_hold_and_closing_it_resumes_the_countdown(escrow) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow
    await pay(broker, "O-D-1")
    await broker.publish(encode(record_shipment("O-D-1")), topics.commands("escrow"), key=b"O-D-1")
    (shipped,) = await sent(runtime, "escrow.shipment.recorded")

    await deliver(broker, opened("O-D-1", "C-D-1"), "O-D-1")
    (frozen,) = await sent(runtime, "escrow.hold.frozen")
    paused = frozen["data"]["paused_with_seconds"]
    assert paused == int((at(shipped["data"]["auto_confirm_at"]) - at(frozen["occurred_at"])).total_seconds())
    assert 7 * 86_400 - 60 < paused <= 7 * 86_400
    assert (await timer(runtime, "O-D-1")).cancelled

    # while frozen, the buyer cannot confirm receipt, and a second case freezes nothing
    await broker.publish(encode(confirm_receipt("O-D-1")), topics.commands("escrow"), key=b"O-D-1")
    (rejected,) = await sent(runtime, "escrow.command.rejected")
    assert rejected["data"]["reason"] == "hold_frozen"
    await deliver(broker, opened("O-D-1", "C-D-OTHER"), "O-D-1")
    await deliver(broker, closed("O-D-1", "C-D-OTHER"), "O-D-1")
    assert len(await sent(runtime, "escrow.hold.frozen")) == 1 and not await sent(runtime, "escrow.hold.unfrozen")

    runtime.clock.advance(3 * 86_400)  # the case took three days
    await deliver(broker, closed("O-D-1", "C-D-1"), "O-D-1")
    (unfrozen,) = await sent(runtime, "escrow.hold.unfrozen")
    due = at(unfrozen["data"]["auto_confirm_at"])
    assert due == at(unfrozen["occurred_at"]) + timedelta(seconds=paused)
    assert unfrozen["data"]["remaining"] == 12900
    countdown = await timer(runtime, "O-D-1")
    assert (as_utc(countdown.due_at), countdown.cancelled, countdown.fired_at) == (due, False, None)

    runtime.clock.advance(7 * 86_400)
    assert await runtime.scheduler.fire_due() >= 1
    (released,) = await sent(runtime, "escrow.hold.released")
    assert (released["data"]["reason"], released["data"]["net"], released["data"]["recovered"]) == ("auto_confirmed", 12823, 0)
    assert await balances(runtime) == {"psp_clearing": 12900, "merchant_available:M-1001": -12823, "platform_fees": -77}


async def test_a_refund_ordered_within_the_hold_is_refunded_from_it_once_and_paid_out_once(escrow) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow
    await pay(broker, "O-D-2")
    await deliver(broker, opened("O-D-2", "C-D-2"), "O-D-2")
    (frozen,) = await sent(runtime, "escrow.hold.frozen")
    assert frozen["data"]["paused_with_seconds"] is None  # not shipped: no countdown

    await deliver(broker, refund_ordered("O-D-2", "C-D-2", "CR-C-D-2-1", 3800), "O-D-2")
    (executed,) = await sent(runtime, "escrow.case_refund.executed")
    assert {k: executed["data"][k] for k in ("from_hold", "from_merchant", "shortfall", "provider_refund_id")} == {
        "from_hold": 3800, "from_merchant": 0, "shortfall": 0, "provider_refund_id": "RF-CR-C-D-2-1"}
    (refunded,) = await sent(runtime, "escrow.hold.refunded")
    assert (refunded["data"]["reason"], refunded["data"]["remaining"]) == ("case_refund", 9100)
    (request,) = await sent(runtime, "psp.refund.requested", topics.PSP_REQUESTS)
    assert (request["data"]["refund_id"], request["data"]["amount"]["amount"], request["data"]["buyer_ref"]) == (
        "RF-CR-C-D-2-1", 3800, "B-2001")

    await provider_refunds(runtime, broker, request)
    (paid_out,) = await sent(runtime, "escrow.refund.paid_out")
    assert (paid_out["data"]["buyer_id"], paid_out["data"]["amount"]["amount"]) == ("B-2001", 3800)

    await deliver(broker, closed("O-D-2", "C-D-2", refunded=3800), "O-D-2")
    (unfrozen,) = await sent(runtime, "escrow.hold.unfrozen")
    assert (unfrozen["data"]["remaining"], unfrozen["data"]["auto_confirm_at"]) == (9100, None)
    kinds = [e["data"]["kind"] for e in await sent(runtime, "escrow.ledger.entry_posted")]
    assert kinds == ["payment_held", "case_refund", "refund_paid_out"]
    assert await balances(runtime) == {"psp_clearing": 9100, "escrow_holding": -9100}


async def test_a_frozen_shipped_hold_refunded_in_full_unfreezes_with_nothing_left(escrow) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow
    await pay(broker, "O-D-3")
    await broker.publish(encode(record_shipment("O-D-3")), topics.commands("escrow"), key=b"O-D-3")
    await deliver(broker, opened("O-D-3", "C-D-3"), "O-D-3")
    await deliver(broker, refund_ordered("O-D-3", "C-D-3", "CR-C-D-3-1", 12900), "O-D-3")
    (refunded,) = await sent(runtime, "escrow.hold.refunded")
    assert refunded["data"]["remaining"] == 0
    await deliver(broker, closed("O-D-3", "C-D-3", refunded=12900), "O-D-3")
    (unfrozen,) = await sent(runtime, "escrow.hold.unfrozen")
    assert (unfrozen["data"]["remaining"], unfrozen["data"]["auto_confirm_at"]) == (0, None)
    assert (await timer(runtime, "O-D-3")).cancelled
    async with runtime.db.transaction() as session:
        hold = await escrow_store.load_hold(Workspace(session), "O-D-3")
    assert hold is not None and (hold.status.value, hold.frozen_by, hold.paused_seconds) == ("refunded", None, None)
    assert await balances(runtime) == {"psp_clearing": 12900, "buyer_refunds_payable:B-2001": -12900}


async def test_shortfall_compensation_insurer_claim_and_recovery_from_the_next_release(escrow) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow
    parties = dict(buyer="B-9", merchant="M-9")
    await pay(broker, "O-D-4", amount=10000, **parties)
    await broker.publish(encode(record_shipment("O-D-4", merchant="M-9")), topics.commands("escrow"), key=b"O-D-4")
    await broker.publish(encode(confirm_receipt("O-D-4", buyer="B-9")), topics.commands("escrow"), key=b"O-D-4")
    assert await sent(runtime, "escrow.hold.released")

    # an after-sale case on a released order: nothing to freeze; the refund comes from the merchant, and falls short
    await deliver(broker, opened("O-D-4", "C-D-4", buyer="B-9", merchant="M-9"), "O-D-4")
    assert not await sent(runtime, "escrow.hold.frozen")
    await deliver(broker, refund_ordered("O-D-4", "C-D-4", "CR-C-D-4-1", 12000, buyer="B-9", merchant="M-9"), "O-D-4")
    (executed,) = await sent(runtime, "escrow.case_refund.executed")
    assert (executed["data"]["from_hold"], executed["data"]["from_merchant"], executed["data"]["shortfall"]) == (0, 9923, 2077)
    assert not await sent(runtime, "escrow.hold.refunded")

    granted = disputes.CompensationGranted(
        **case("O-D-4", "C-D-4", buyer="B-9", merchant="M-9"), compensation_id="CP-C-D-4-1", refund_id="CR-C-D-4-1",
        amount=Money(amount=2077), shortfall=2077, uncovered=0, claim_id="CL-C-D-4-1")
    await deliver(broker, granted, "O-D-4")
    (compensated,) = await sent(runtime, "escrow.compensation.paid")
    assert (compensated["data"]["merchant_owes"], compensated["data"]["provider_refund_id"]) == (2077, "RF-CP-C-D-4-1")
    requests = await sent(runtime, "psp.refund.requested", topics.PSP_REQUESTS)
    assert [(r["data"]["refund_id"], r["data"]["amount"]["amount"], r["data"]["buyer_ref"]) for r in requests] == [
        ("RF-CR-C-D-4-1", 9923, "B-9"), ("RF-CP-C-D-4-1", 2077, "B-9")]
    assert await balances(runtime) == {
        "psp_clearing": 10000, "platform_fees": -77, "buyer_refunds_payable:B-9": -12000,
        "merchant_recovery_receivable:M-9": 2077}

    for request in requests:
        await provider_refunds(runtime, broker, request)
    assert sorted(p["data"]["refund_id"] for p in await sent(runtime, "escrow.refund.paid_out")) == [
        "RF-CP-C-D-4-1", "RF-CR-C-D-4-1"]

    # the insurer approves part of the claim, then pays it
    decided = disputes.ClaimDecisionRecorded(**case("O-D-4", "C-D-4", buyer="B-9", merchant="M-9"), claim_id="CL-C-D-4-1",
                                             decision="partial", claimed=Money(amount=2077), approved=Money(amount=1000))
    await deliver(broker, decided, "O-D-4")
    assert (await balances(runtime))["insurer_receivable"] == 1000
    assert (await balances(runtime))["merchant_recovery_receivable:M-9"] == 1077
    paid = disputes.ClaimPaymentRecorded(**case("O-D-4", "C-D-4", buyer="B-9", merchant="M-9"), claim_id="CL-C-D-4-1",
                                         amount=Money(amount=1000))
    await deliver(broker, paid, "O-D-4")
    assert await balances(runtime) == {"psp_clearing": 10000 - 12000 + 1000, "platform_fees": -77,
                                       "merchant_recovery_receivable:M-9": 1077}

    # the merchant's next release repays the rest first
    await pay(broker, "O-D-5", amount=10000, **parties)
    await broker.publish(encode(record_shipment("O-D-5", merchant="M-9")), topics.commands("escrow"), key=b"O-D-5")
    await broker.publish(encode(confirm_receipt("O-D-5", buyer="B-9")), topics.commands("escrow"), key=b"O-D-5")
    released = [r["data"] for r in await sent(runtime, "escrow.hold.released") if r["data"]["order_id"] == "O-D-5"]
    assert [(r["net"], r["recovered"]) for r in released] == [(9923, 1077)]
    (repaid,) = await sent(runtime, "escrow.recovery.repaid")
    assert (repaid["data"]["amount"]["amount"], repaid["data"]["merchant_owes"], repaid["data"]["order_id"]) == (1077, 0, "O-D-5")

    kinds = [e["data"]["kind"] for e in await sent(runtime, "escrow.ledger.entry_posted")]
    assert kinds == ["payment_held", "hold_released", "case_refund", "compensation_paid", "recovery_booked",
                     "refund_paid_out", "refund_paid_out", "insurer_claim_approved", "insurer_claim_paid",
                     "payment_held", "hold_released"]
    assert await balances(runtime) == {"psp_clearing": 9000, "platform_fees": -154, "merchant_available:M-9": -8846}


async def test_an_approval_beyond_what_the_merchant_still_owes_goes_back_to_it(escrow) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow
    parties = case("O-D-6", "C-D-6", buyer="B-6", merchant="M-6")
    granted = disputes.CompensationGranted(**parties, compensation_id="CP-C-D-6-1", refund_id="CR-C-D-6-1",
                                           amount=Money(amount=3000), shortfall=3000, uncovered=0, claim_id="CL-C-D-6-1")
    await deliver(broker, granted, "O-D-6")
    # a direct payment to the merchant repays 3000 of it at once
    await pay(broker, "O-D-7", amount=10000, guaranteed=False, buyer="B-7", merchant="M-6")
    (credited,) = await sent(runtime, "escrow.merchant.credited")
    assert (credited["data"]["net"], credited["data"]["recovered"]) == (9923, 3000)
    decided = disputes.ClaimDecisionRecorded(**parties, claim_id="CL-C-D-6-1", decision="approved",
                                             claimed=Money(amount=3000), approved=Money(amount=3000))
    await deliver(broker, decided, "O-D-6")
    assert await balances(runtime) == {"psp_clearing": 10000, "platform_fees": -77, "buyer_refunds_payable:B-6": -3000,
                                       "insurer_receivable": 3000, "merchant_available:M-6": -9923}


async def test_a_case_refund_without_a_hold_is_paid_out_to_the_buyer_it_was_booked_for(escrow) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow
    await pay(broker, "O-D-8", amount=10000, guaranteed=False, buyer="B-8", merchant="M-8")
    await deliver(broker, refund_ordered("O-D-8", "C-D-8", "CR-C-D-8-1", 5000, buyer="B-8", merchant="M-8"), "O-D-8")
    (executed,) = await sent(runtime, "escrow.case_refund.executed")
    assert (executed["data"]["from_hold"], executed["data"]["from_merchant"], executed["data"]["shortfall"]) == (0, 5000, 0)
    (request,) = await sent(runtime, "psp.refund.requested", topics.PSP_REQUESTS)
    await provider_refunds(runtime, broker, request)
    (paid_out,) = await sent(runtime, "escrow.refund.paid_out")
    assert (paid_out["data"]["buyer_id"], paid_out["data"]["refund_id"]) == ("B-8", "RF-CR-C-D-8-1")
    # nothing covered at all: reported once, nothing posted, nothing asked of the provider
    await deliver(broker, refund_ordered("O-D-9", "C-D-9", "CR-C-D-9-1", 700, buyer="B-8", merchant="M-NOTHING"), "O-D-9")
    nothing = [e["data"] for e in await sent(runtime, "escrow.case_refund.executed") if e["data"]["order_id"] == "O-D-9"]
    assert [(e["shortfall"], e["provider_refund_id"]) for e in nothing] == [(700, None)]
    assert len(await sent(runtime, "psp.refund.requested", topics.PSP_REQUESTS)) == 1
    assert await balances(runtime) == {"psp_clearing": 5000, "platform_fees": -77, "merchant_available:M-8": -4923}
