"""Orders paid without the guarantee, on FastStream's in-memory test broker: escrow records their shipment,
refunds a cancellation before shipment from the merchant's balance (and returns the fee), refuses one the
balance cannot cover; disputes learns the orders from escrow's events, opens refund cases on them, and turns
a cancellation the merchant could not refund into a case agreed at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.disputes import store as disputes_store
from services.disputes.app import build as build_disputes
from services.escrow import store as escrow_store
from services.escrow.app import build as build_escrow
from shared import topics
from shared.contracts import disputes, escrow, payments
from shared.envelope import Actor, ActorKind, Envelope, Payload
from shared.money import Money
from tests.factories import encode, envelope, record_shipment, sign
from tests.handlers.harness import published, serving
from tests.handlers.test_escrow_disputes import balances, deliver, opened, pay, provider_refunds, sent
from shared.workspace import Workspace

EVENTS = topics.events("disputes")


@pytest.fixture
async def escrow_service(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build_escrow()) as running:
        yield running


def cancellation(order_id: str, party: str = "buyer", *, buyer: str = "B-2001", amount: int = 12900) -> bytes:
    """payments' ``refund.requested`` for a paid order being cancelled, as escrow reads it."""
    request = payments.RefundRequested(order_id=order_id, buyer_id=buyer, amount=Money(amount=amount), party=party,
                                       reason="changed_mind" if party == "buyer" else "out_of_stock")
    document = envelope(request.TYPE, request.model_dump(mode="json"), actor=("system", "payments"))
    return encode({**document, "producer": "payments"})


async def test_a_direct_order_is_shipped_and_then_no_longer_cancelled(escrow_service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow_service
    await pay(broker, "O-N-1", guaranteed=False)
    await broker.publish(encode(record_shipment("O-N-1", merchant="M-OTHER")), topics.commands("escrow"), key=b"O-N-1")
    await broker.publish(encode(record_shipment("O-N-1")), topics.commands("escrow"), key=b"O-N-1")
    (shipped,) = await sent(runtime, "escrow.direct_order.shipped")
    assert (shipped["data"]["buyer_id"], shipped["data"]["tracking_no"]) == ("B-2001", "SF1234567890")
    assert not await sent(runtime, "escrow.shipment.recorded") and not await sent(runtime, "escrow.hold.released")
    (rejected,) = await sent(runtime, "escrow.command.rejected")
    assert rejected["data"]["reason"] == "forbidden"
    await broker.publish(cancellation("O-N-1"), topics.events("payments"), key=b"O-N-1")
    (refused,) = await sent(runtime, "escrow.refund.refused")
    assert refused["data"]["reason"] == "already_shipped"
    assert await balances(runtime) == {"psp_clearing": 12900, "merchant_available:M-1001": -12823, "platform_fees": -77}


async def test_a_direct_order_cancelled_before_shipment_is_refunded_from_the_merchant_and_the_fee(escrow_service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow_service
    await pay(broker, "O-N-2", guaranteed=False)
    for _ in range(2):  # payments' event delivered twice: one refund
        await broker.publish(cancellation("O-N-2", "merchant"), topics.events("payments"), key=b"O-N-2")
    (refunded,) = await sent(runtime, "escrow.direct_payment.refunded")
    assert (refunded["data"]["from_merchant"], refunded["data"]["fee_returned"], refunded["data"]["reason"]) == (
        12823, 77, "cancelled_by_merchant")
    (request,) = await sent(runtime, "psp.refund.requested", topics.PSP_REQUESTS)
    assert (request["data"]["refund_id"], request["data"]["amount"]["amount"]) == ("RF-O-N-2-D", 12900)
    (refused,) = await sent(runtime, "escrow.refund.refused")  # the second delivery finds it refunded
    assert refused["data"]["reason"] == "already_settled"
    assert await balances(runtime) == {"psp_clearing": 12900, "buyer_refunds_payable:B-2001": -12900}
    await provider_refunds(runtime, broker, request)
    (paid_out,) = await sent(runtime, "escrow.refund.paid_out")
    assert paid_out["data"]["buyer_id"] == "B-2001"
    assert await balances(runtime) == {}
    await broker.publish(encode(record_shipment("O-N-2")), topics.commands("escrow"), key=b"O-N-2")
    (rejected,) = await sent(runtime, "escrow.command.rejected")
    assert rejected["data"]["reason"] == "illegal_transition"


async def test_a_cancellation_the_merchants_balance_cannot_cover_is_refused_and_a_case_freezes_it(escrow_service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = escrow_service
    await pay(broker, "O-N-3", guaranteed=False, merchant="M-SPENT")
    payout = payments.PayoutRequested(payout_id="PO-N-3", merchant_id="M-SPENT", amount=Money(amount=10000))
    document = envelope(payout.TYPE, payout.model_dump(mode="json"), actor=("system", "payments"))
    await broker.publish(encode({**document, "producer": "payments"}), topics.events("payments"), key=b"M-SPENT")
    await broker.publish(cancellation("O-N-3"), topics.events("payments"), key=b"O-N-3")
    (refused,) = await sent(runtime, "escrow.refund.refused")
    assert (refused["data"]["reason"], refused["data"]["needed"], refused["data"]["available"]) == (
        "merchant_balance_short", 12823, 2823)
    assert not await sent(runtime, "escrow.direct_payment.refunded")
    await deliver(broker, opened("O-N-3", "CX-O-N-3", merchant="M-SPENT"), "O-N-3")
    async with runtime.db.transaction() as session:
        paid = await escrow_store.load_direct(Workspace(session), "O-N-3")
    assert paid is not None and paid.frozen_by == "CX-O-N-3"
    await broker.publish(cancellation("O-N-3"), topics.events("payments"), key=b"O-N-3")
    assert [r["data"]["reason"] for r in await sent(runtime, "escrow.refund.refused")] == ["merchant_balance_short", "case_open"]


# -- disputes ---------------------------------------------------------------------------------


@pytest.fixture
async def disputes_service(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build_disputes()) as running:
        yield running


async def from_escrow(broker: Any, payload: Payload, order_id: str) -> None:
    sent_ = Envelope(type=payload.TYPE, producer="escrow", data=payload, actor=Actor(kind=ActorKind.SYSTEM, id="escrow"),  # type: ignore[attr-defined]
                     correlation_id=f"flow-{order_id}")
    await broker.publish(encode(sent_.model_dump(mode="json", exclude={"token"})), topics.events("escrow"), key=order_id.encode())


def credited(order_id: str, buyer: str = "B-1", merchant: str = "M-1") -> escrow.MerchantCredited:
    return escrow.MerchantCredited(order_id=order_id, merchant_id=merchant, buyer_id=buyer, gross=Money(amount=12900),
                                   fee=77, net=12823)


async def test_a_refund_case_on_a_direct_order_is_opened_and_its_refund_ordered(disputes_service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = disputes_service
    await from_escrow(broker, credited("O-N-4"), "O-N-4")
    command = disputes.OpenCase(case_id="C-N-4", order_id="O-N-4", reason=disputes.CaseReason.DAMAGED,
                                requested=Money(amount=5000), description="cracked")
    document = Envelope(type=command.TYPE, producer="test", data=command, actor=Actor(kind=ActorKind.BUYER, id="B-1"),
                        correlation_id="flow-O-N-4")
    await broker.publish(encode(sign(document.model_dump(mode="json", exclude={"token"}))), topics.commands("disputes"),
                         key=b"O-N-4")
    (case_opened,) = await published(runtime, EVENTS, "disputes.case.opened")
    assert (case_opened["data"]["paid"]["amount"], case_opened["data"]["origin"]) == (12900, "buyer")
    async with runtime.db.transaction() as session:
        order = await disputes_store.load_order(Workspace(session), "O-N-4")
    assert order is not None and order.guaranteed is False


async def test_a_cancellation_the_merchant_could_not_refund_becomes_a_case_agreed_at_once(disputes_service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = disputes_service
    await from_escrow(broker, credited("O-N-5"), "O-N-5")
    for _ in range(2):  # escrow's refusal read twice: one case
        await from_escrow(broker, escrow.RefundRefused(order_id="O-N-5", reason="merchant_balance_short", needed=12823,
                                                       available=0), "O-N-5")
    await from_escrow(broker, escrow.RefundRefused(order_id="O-N-5", reason="already_shipped"), "O-N-5")
    (case_opened,) = await published(runtime, EVENTS, "disputes.case.opened")
    assert (case_opened["data"]["case_id"], case_opened["data"]["origin"]) == ("CX-O-N-5", "cancellation")
    (agreed,) = await published(runtime, EVENTS, "disputes.negotiation.agreed")
    assert agreed["data"]["how"] == "cancelled_before_shipment"
    (ordered,) = await published(runtime, EVENTS, "disputes.refund.ordered")
    assert (ordered["data"]["refund_id"], ordered["data"]["amount"]["amount"]) == ("CR-CX-O-N-5-1", 12900)
    assert case_opened["correlation_id"] == "flow-O-N-5"

