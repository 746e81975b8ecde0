"""Real-time risk controls through the real broker and processes, with the rule table made tight by its setting:
a buyer paying too fast is held for an operator, who releases one payment and rejects another; a buyer whose
payments keep failing is blocked; a merchant cancelling paid orders is reviewed; the parties are told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ops.platform import LocalPlatform
from tests.conftest import PRODUCTION_STORE
from tests.factories import cancel_order, confirm_receipt, create_order, envelope, pay_order, record_shipment, request_payout
from tests.integration.conftest import Kafka, of, running_platform

pytestmark = pytest.mark.integration

RULES = {"R-VELOCITY-BUYER": {"window_minutes": 10, "threshold": 1},
         "R-FAILED-ATTEMPTS": {"window_minutes": 60, "threshold": 1, "outcome": "block"},
         "R-CANCEL-MERCHANT": {"window_minutes": 1440, "threshold": 1},
         "R-PAYOUT-AFTER-INFLOW": {"window_minutes": 1440, "threshold": 50, "floor": 1000}}


@pytest.fixture(scope="module", params=PRODUCTION_STORE)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with running_platform(request.param, tmp_path_factory.mktemp("risk"),
                          extra_env={"DANBAO_PAYMENTS_RISK_RULES": json.dumps(RULES)}) as running:
        yield running


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


async def _event(kafka: Kafka, type_: str, **data: Any) -> dict[str, Any]:
    events = await kafka.read_until("danbao.payments.events", _has(type_, **data))
    return next(m for m in events if of(type_, **data)(m))["data"]


def _decide(review_id: str, decision: str) -> dict[str, Any]:
    return envelope("payments.risk.decide", {"review_id": review_id, "decision": decision, "note": "买家来电核实 / checked by phone"},
                    actor=("operator", "OP-1"))


async def test_a_buyer_paying_too_fast_is_held_until_an_operator_decides(kafka: Kafka) -> None:
    buyer = f"B-FAST-{uuid.uuid4().hex[:6]}"
    first, second, third = (f"O-{uuid.uuid4().hex[:8]}" for _ in range(3))
    for order_id in (first, second, third):
        await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer, merchant="M-1002"), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(first, buyer=buyer), key=first)
    await _event(kafka, "payments.payment.succeeded", order_id=first)  # the first is allowed

    await kafka.send("danbao.payments.commands", pay_order(second, buyer=buyer), key=second)
    flagged = await _event(kafka, "payments.risk.flagged", order_id=second)
    assert (flagged["rule"], flagged["outcome"], flagged["observed"], flagged["threshold"]) == ("R-VELOCITY-BUYER", "review", 2, 1)
    assert flagged["detail"] == f"2 payments by {buyer} in 10 minutes; at most 1"
    charges = await kafka.read_until("danbao.psp.requests", _has("psp.charge.requested", order_id=first))
    assert not any(m["data"]["order_id"] == second for m in charges)  # nothing charged while held

    await kafka.send("danbao.payments.commands", _decide(flagged["review_id"], "release"), key=second)
    decided = await _event(kafka, "payments.risk.decided", review_id=flagged["review_id"])
    assert (decided["decision"], decided["by"]) == ("release", "OP-1")
    await _event(kafka, "payments.payment.succeeded", order_id=second)

    await kafka.send("danbao.payments.commands", pay_order(third, buyer=buyer), key=third)
    flagged = await _event(kafka, "payments.risk.flagged", order_id=third)
    await kafka.send("danbao.payments.commands", _decide(flagged["review_id"], "reject"), key=third)
    cancelled = await _event(kafka, "payments.order.cancelled", order_id=third)
    assert (cancelled["party"], cancelled["reason"], cancelled["refunded"]["amount"]) == ("platform", "risk_rejected", 0)
    # only an operator decides
    merchant_try = envelope("payments.risk.decide", {"review_id": flagged["review_id"], "decision": "release", "note": "mine"},
                            actor=("merchant", "M-1002"))
    await kafka.send("danbao.payments.commands", merchant_try, key=third)
    refused = await _event(kafka, "payments.command.rejected", command_event_id=merchant_try["event_id"])
    assert refused["reason"] == "forbidden"


async def test_danbao_report_risk_lists_the_reviews_and_blocks(platform: LocalPlatform, kafka: Kafka) -> None:
    order_id, buyer = f"O-{uuid.uuid4().hex[:8]}", f"B-{uuid.uuid4().hex[:8]}"
    for n in range(2):
        await kafka.send("danbao.payments.commands", create_order(f"{order_id}-{n}", buyer=buyer, merchant="M-1002"), key=order_id)
        await kafka.send("danbao.payments.commands", pay_order(f"{order_id}-{n}", buyer=buyer), key=order_id)
    flagged = await _event(kafka, "payments.risk.flagged", order_id=f"{order_id}-1")
    env = {**os.environ, "DANBAO_DATA_DIR": str(platform.data_dir), **platform.extra_env}
    out = subprocess.run([sys.executable, "-m", "ops.cli", "report", "risk", "--csv"], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    row = next(line.split(",") for line in out.splitlines() if flagged["review_id"] in line)
    assert row[2:11] == ["payment", f"{order_id}-1", "M-1002", "R-VELOCITY-BUYER", "review", "2", "1", "open", ""]


async def test_a_buyer_whose_payments_keep_failing_is_blocked(kafka: Kafka) -> None:
    buyer = f"B-POOR-{uuid.uuid4().hex[:6]}"  # the provider simulator declines this buyer's charges
    first, second = (f"O-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for order_id in (first, second):
        await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer, merchant="M-1002"), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(first, buyer=buyer), key=first)
    await _event(kafka, "payments.payment.failed", order_id=first)
    await kafka.send("danbao.payments.commands", pay_order(second, buyer=buyer), key=second)
    flagged = await _event(kafka, "payments.risk.flagged", subject_id=second)
    assert (flagged["rule"], flagged["outcome"], flagged["observed"]) == ("R-FAILED-ATTEMPTS", "block", 1)
    charges = await kafka.read_until("danbao.psp.requests", _has("psp.charge.requested", order_id=first))
    assert not any(m["data"]["order_id"] == second for m in charges)


async def test_a_merchant_cancelling_paid_orders_is_reviewed_and_the_buyers_are_still_refunded(kafka: Kafka) -> None:
    orders = [(f"O-{uuid.uuid4().hex[:8]}", f"B-{uuid.uuid4().hex[:8]}") for _ in range(2)]
    for order_id, buyer in orders:
        await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer, merchant="M-1002"), key=order_id)
        await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)
        await kafka.read_until("danbao.escrow.events", _has("escrow.hold.created", order_id=order_id))
        await kafka.send("danbao.payments.commands", cancel_order(order_id, "out_of_stock", actor=("merchant", "M-1002")), key=order_id)
    second = orders[1][0]
    flagged = await _event(kafka, "payments.risk.flagged", subject_id=second, subject="cancellation")
    assert (flagged["rule"], flagged["observed"], flagged["merchant_id"]) == ("R-CANCEL-MERCHANT", 2, "M-1002")
    for order_id, _ in orders:
        cancelled = await _event(kafka, "payments.order.cancelled", order_id=order_id)
        assert cancelled["refunded"]["amount"] == 12900
    # the merchant's payouts wait for the review ...
    held = request_payout(f"PO-{uuid.uuid4().hex[:8]}", 1000, merchant="M-1002")
    await kafka.send("danbao.payments.commands", held, key="M-1002")
    refused = await _event(kafka, "payments.command.rejected", command_event_id=held["event_id"])
    assert refused["reason"] == "payouts_held" and flagged["review_id"] in refused["detail"]
    # ... and go on once an operator has decided it
    await kafka.send("danbao.payments.commands", _decide(flagged["review_id"], "release"), key=second)
    await _event(kafka, "payments.risk.decided", review_id=flagged["review_id"])
    payout_id = f"PO-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", request_payout(payout_id, 1000, merchant="M-1002"), key="M-1002")
    await _event(kafka, "payments.payout.requested", payout_id=payout_id)


async def _released(kafka: Kafka, merchant: str) -> None:
    """An order of ``merchant`` paid, shipped and confirmed: 12900 less the fee reaches its balance now."""
    order_id, buyer = f"O-{uuid.uuid4().hex[:8]}", f"B-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer, merchant=merchant), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.hold.created", order_id=order_id))
    await kafka.send("danbao.escrow.commands", record_shipment(order_id, merchant=merchant), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id, buyer=buyer), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.hold.released", order_id=order_id))


async def test_a_payout_right_after_large_incoming_funds_waits_for_an_operator(kafka: Kafka) -> None:
    merchant = "M-1003"
    await _released(kafka, merchant)
    released, rejected = f"PO-{uuid.uuid4().hex[:8]}", f"PO-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", request_payout(released, 5000, merchant=merchant), key=merchant)
    flagged = await _event(kafka, "payments.risk.flagged", payout_id=released)
    assert (flagged["rule"], flagged["subject"], flagged["observed"]) == ("R-PAYOUT-AFTER-INFLOW", "payout", 100)
    reserved = await kafka.read_until("danbao.escrow.events", _has("escrow.payout.reserved", payout_id=released))
    assert reserved  # the money is set aside while the operator looks
    events = await kafka.read_until("danbao.payments.events", _has("payments.risk.flagged", payout_id=released))
    assert not any(of("payments.payout.scheduled", payout_id=released)(m) for m in events)
    await kafka.send("danbao.payments.commands", _decide(flagged["review_id"], "release"), key=merchant)
    scheduled = await _event(kafka, "payments.payout.scheduled", payout_id=released)
    assert scheduled["amount"]["amount"] == 5000

    await kafka.send("danbao.payments.commands", request_payout(rejected, 4000, merchant=merchant), key=merchant)
    flagged = await _event(kafka, "payments.risk.flagged", payout_id=rejected)
    await kafka.send("danbao.payments.commands", _decide(flagged["review_id"], "reject"), key=merchant)
    failed = await _event(kafka, "payments.payout.failed", payout_id=rejected)
    assert (failed["reason"], failed["reserved"]) == ("risk_rejected", True)  # the reserved money goes back
