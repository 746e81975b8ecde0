"""A guaranteed trade's life through the real broker and processes: pay, hold, ship, then
release by the buyer's confirmation or by the auto-confirm deadline on the test clock."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime

import pytest

from ops.platform import LocalPlatform
from shared.business_days import CHINA

from tests.factories import (
    advance_clock,
    cancel_order,
    confirm_receipt,
    create_order,
    pay_order,
    record_shipment,
    request_payout,
)
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


async def _paid_and_held(kafka: Kafka, order_id: str) -> None:
    await kafka.send("danbao.payments.commands", create_order(order_id), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.ledger.entry_posted", order_id=order_id, kind="payment_held"))


async def test_the_buyer_confirms_receipt_and_only_the_buyer_may(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await _paid_and_held(kafka, order_id)
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id, buyer="B-INTRUDER"), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id), key=order_id)
    events = await kafka.read_until("danbao.escrow.events", _has("escrow.ledger.entry_posted", order_id=order_id, kind="hold_released"))
    mine = [m for m in events if m["data"].get("order_id") == order_id or m["data"].get("aggregate_id") == order_id]
    assert [m["type"] for m in mine] == [
        "escrow.hold.created", "escrow.ledger.entry_posted", "escrow.shipment.recorded",
        "escrow.command.rejected", "escrow.hold.released", "escrow.ledger.entry_posted"]
    rejected = mine[3]["data"]
    assert rejected["reason"] == "forbidden" and rejected["command_type"] == "escrow.receipt.confirm"
    released = mine[4]["data"]
    assert (released["amount"]["amount"], released["fee"], released["net"], released["reason"]) == (12900, 77, 12823, "buyer_confirmed")
    lines = {line["account"]: line["amount"] for line in mine[5]["data"]["lines"]}
    assert lines == {"escrow_holding": 12900, "merchant_available:M-1001": -12823, "platform_fees": -77}


async def test_receipt_is_confirmed_automatically_when_the_deadline_passes(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await _paid_and_held(kafka, order_id)
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    shipped = await kafka.read_until("danbao.escrow.events", _has("escrow.shipment.recorded", order_id=order_id))
    assert not any(of("escrow.hold.released", order_id=order_id)(m) for m in shipped)

    tag = f"clock-{order_id}"
    await kafka.send("danbao.control.commands", advance_clock(8 * 86400, tag), key="clock")  # seven days pass, and one more
    await kafka.read_until("danbao.control.events", lambda ms: any(m["correlation_id"] == tag and m["data"]["service"] == "escrow" for m in ms))
    events = await kafka.read_until("danbao.escrow.events", _has("escrow.hold.released", order_id=order_id), timeout=30)
    released = next(m for m in events if of("escrow.hold.released", order_id=order_id)(m))
    assert released["data"]["reason"] == "auto_confirmed" and released["actor"] == {"kind": "system", "id": "escrow"}
    assert released["correlation_id"] == f"flow-{order_id}"  # the timer keeps the flow's correlation id
    assert released["data"]["net"] == 12823


async def test_cancellations_of_each_kind(kafka: Kafka) -> None:
    unpaid, paid, shipped, intruded = (f"O-{uuid.uuid4().hex[:8]}" for _ in range(4))
    # the buyer cancels before paying: closed, nothing to refund
    await kafka.send("danbao.payments.commands", create_order(unpaid), key=unpaid)
    await kafka.send("danbao.payments.commands", cancel_order(unpaid, "changed_mind", actor=("buyer", "B-2001")), key=unpaid)
    # the merchant is out of stock after payment: the hold goes back to the buyer in full
    await _paid_and_held(kafka, paid)
    await kafka.send("danbao.payments.commands", cancel_order(paid, "out_of_stock", actor=("merchant", "M-1001")), key=paid)
    # the buyer cancels after shipment: refused, the order stays paid
    await _paid_and_held(kafka, shipped)
    await kafka.send("danbao.escrow.commands", record_shipment(shipped), key=shipped)
    await kafka.read_until("danbao.escrow.events", _has("escrow.shipment.recorded", order_id=shipped))
    await kafka.send("danbao.payments.commands", cancel_order(shipped, "changed_mind", actor=("buyer", "B-2001")), key=shipped)
    # someone else's cancellation, and a merchant giving a buyer's reason, are rejected
    await kafka.send("danbao.payments.commands", create_order(intruded), key=intruded)
    await kafka.send("danbao.payments.commands", cancel_order(intruded, "changed_mind", actor=("buyer", "B-OTHER")), key=intruded)
    await kafka.send("danbao.payments.commands", cancel_order(intruded, "changed_mind", actor=("merchant", "M-1001")), key=intruded)

    events = await kafka.read_until("danbao.payments.events", lambda ms: all(any(p(m) for m in ms) for p in [
        of("payments.order.cancelled", order_id=unpaid), of("payments.order.cancelled", order_id=paid),
        of("payments.order.cancellation_refused", order_id=shipped)]) and sum(
        of("payments.command.rejected", aggregate_id=intruded)(m) for m in ms) == 2, timeout=60)
    cancelled = {m["data"]["order_id"]: m["data"] for m in events if m["type"] == "payments.order.cancelled"}
    assert (cancelled[unpaid]["party"], cancelled[unpaid]["reason"], cancelled[unpaid]["refunded"]["amount"]) == ("buyer", "changed_mind", 0)
    assert (cancelled[paid]["party"], cancelled[paid]["reason"], cancelled[paid]["refunded"]["amount"]) == ("merchant", "out_of_stock", 12900)
    refused = next(m for m in events if of("payments.order.cancellation_refused", order_id=shipped)(m))
    assert refused["data"]["reason"] == "already_shipped"
    reasons = sorted(m["data"]["reason"] for m in events if of("payments.command.rejected", aggregate_id=intruded)(m))
    assert reasons == ["forbidden", "invalid_reason"]

    ledger = await kafka.read_until("danbao.escrow.events", _has("escrow.ledger.entry_posted", order_id=paid, kind="refund_paid_out"))
    entries = {m["data"]["kind"]: {line["account"]: line["amount"] for line in m["data"]["lines"]}
               for m in ledger if of("escrow.ledger.entry_posted", order_id=paid)(m)}
    assert entries["hold_refunded"] == {"escrow_holding": 12900, "buyer_refunds_payable:B-2001": -12900}
    assert entries["refund_paid_out"] == {"buyer_refunds_payable:B-2001": 12900, "psp_clearing": -12900}
    assert not any(of("escrow.hold.refunded", order_id=shipped)(m) for m in ledger)


async def test_an_unpaid_order_expires_after_thirty_minutes(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", create_order(order_id), key=order_id)
    await kafka.read_until("danbao.payments.events", _has("payments.order.created", order_id=order_id))
    tag = f"clock-{order_id}"
    await kafka.send("danbao.control.commands", advance_clock(31 * 60, tag), key="clock")
    await kafka.read_until("danbao.payments.events", _has("payments.order.expired", order_id=order_id), timeout=30)
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    events = await kafka.read_until("danbao.payments.events", _has("payments.command.rejected", aggregate_id=order_id))
    assert next(m for m in events if of("payments.command.rejected", aggregate_id=order_id)(m))["data"]["reason"] == "order_closed"


async def test_a_retried_cancellation_refunds_once_and_a_repeated_provider_callback_changes_nothing(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await _paid_and_held(kafka, order_id)
    # the provider delivers its success callback a second time (a new message, same content)
    callbacks = await kafka.read_until("danbao.psp.callbacks", lambda ms: any(m["data"].get("order_id") == order_id for m in ms))
    original = next(m for m in callbacks if m["data"].get("order_id") == order_id)
    await kafka.send("danbao.psp.callbacks", {**original, "event_id": str(uuid.uuid4())}, key=order_id)
    # the merchant's app retries its cancellation with the same idempotency key
    for _ in range(2):
        command = cancel_order(order_id, "out_of_stock", actor=("merchant", "M-1001"))
        await kafka.send("danbao.payments.commands", {**command, "idempotency_key": f"cancel-{order_id}"}, key=order_id)
    # and a careless client reuses that key for something else
    other = pay_order(order_id)
    await kafka.send("danbao.payments.commands", {**other, "idempotency_key": f"cancel-{order_id}"}, key=order_id)

    payments_events = await kafka.read_until("danbao.payments.events", lambda ms: any(
        of("payments.command.rejected", aggregate_id=order_id, command_type="payments.order.pay")(m)
        and m["correlation_id"] == f"flow-{order_id}" for m in ms))
    mine = [m for m in payments_events if m["correlation_id"] == f"flow-{order_id}"]
    assert len({m["event_id"] for m in mine if m["type"] == "payments.payment.succeeded"}) == 1
    assert len({m["event_id"] for m in mine if m["type"] == "payments.refund.requested"}) == 1
    assert [m["data"]["reason"] for m in mine if m["type"] == "payments.command.rejected"] == ["idempotency_key_reused"]
    escrow_events = await kafka.read_until("danbao.escrow.events", _has("escrow.ledger.entry_posted", order_id=order_id, kind="refund_paid_out"))
    refunds = {m["event_id"] for m in escrow_events if of("escrow.hold.refunded", order_id=order_id)(m)}
    assert len(refunds) == 1
    assert len({m["event_id"] for m in escrow_events if of("escrow.hold.created", order_id=order_id)(m)}) == 1


async def test_failures_reach_the_buyer_and_a_failed_order_can_be_paid_again(kafka: Kafka) -> None:
    poor, flaky, silent = (f"O-{uuid.uuid4().hex[:8]}" for _ in range(3))
    for order_id, buyer in ((poor, "B-POOR-1"), (flaky, "B-FLAKY-1"), (silent, "B-SILENT-1")):
        await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer), key=order_id)
        await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)
    events = await kafka.read_until("danbao.payments.events", lambda ms: _has("payments.payment.failed", order_id=poor)(ms)
                                    and _has("payments.payment.failed", order_id=flaky)(ms))
    failed = {m["data"]["order_id"]: m["data"] for m in events if m["type"] == "payments.payment.failed"}
    assert failed[poor]["reason"] == "insufficient_balance" and "余额不足" in failed[poor]["message"]
    assert failed[flaky]["reason"] == "network_error"
    await kafka.send("danbao.payments.commands", pay_order(flaky, buyer="B-FLAKY-1"), key=flaky)  # the second attempt succeeds
    held = await kafka.read_until("danbao.escrow.events", _has("escrow.hold.created", order_id=flaky))
    assert next(m for m in held if of("escrow.hold.created", order_id=flaky)(m))["data"]["buyer_id"] == "B-FLAKY-1"

    tag = f"clock-{silent}"
    await kafka.send("danbao.control.commands", advance_clock(16 * 60, tag), key="clock")  # the provider never answers
    events = await kafka.read_until("danbao.payments.events", _has("payments.payment.failed", order_id=silent), timeout=30)
    assert next(m for m in events if of("payments.payment.failed", order_id=silent)(m))["data"]["reason"] == "provider_timeout"


async def _earn(kafka: Kafka, merchant: str) -> str:
    """A paid, shipped and confirmed order: the merchant's available balance grows by 12,823 fen."""
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", create_order(order_id, merchant=merchant), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.hold.created", order_id=order_id))
    await kafka.send("danbao.escrow.commands", record_shipment(order_id, merchant=merchant), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.hold.released", order_id=order_id))
    return order_id


async def test_payouts_settle_on_the_next_business_day_or_fail_and_return_the_money(
        kafka: Kafka, platform: LocalPlatform) -> None:
    await _earn(kafka, "M-1002")
    await _earn(kafka, "M-CLOSED-1")
    # Other tests on this platform sell for M-1002 too: the first payout leaves 823 fen of whatever it has now
    # (escrow's ledger decides, and has posted the release before announcing it).
    available = -_balances(platform)["merchant_available:M-1002"]  # a liability: the ledger keeps it as a credit
    assert available >= 12823
    ok, too_much, closed = (f"PO-{uuid.uuid4().hex[:8]}" for _ in range(3))
    await kafka.send("danbao.payments.commands", request_payout(ok, available - 823, merchant="M-1002"), key="M-1002")
    await kafka.send("danbao.payments.commands", request_payout(too_much, 5000, merchant="M-1002"), key="M-1002")
    await kafka.send("danbao.payments.commands", request_payout(closed, 12823, merchant="M-CLOSED-1"), key="M-CLOSED-1")
    events = await kafka.read_until("danbao.payments.events", lambda ms: _has("payments.payout.scheduled", payout_id=ok)(ms)
                                    and _has("payments.payout.failed", payout_id=too_much)(ms)
                                    and _has("payments.payout.scheduled", payout_id=closed)(ms))
    declined = next(m for m in events if of("payments.payout.failed", payout_id=too_much)(m))["data"]
    assert (declined["reason"], declined["reserved"]) == ("insufficient_balance", False)  # 823 fen left after the first
    scheduled = next(m for m in events if of("payments.payout.scheduled", payout_id=ok)(m))["data"]
    assert scheduled["transfer_at"].endswith("01:00:00Z")  # 09:00 China time on a business day
    assert not _has("payments.payout.settled", payout_id=ok)(events)  # not before T+1

    tag = f"clock-{ok}"
    await kafka.send("danbao.control.commands", advance_clock(6 * 86400, tag), key="clock")
    events = await kafka.read_until("danbao.payments.events", lambda ms: _has("payments.payout.settled", payout_id=ok)(ms)
                                    and _has("payments.payout.failed", payout_id=closed)(ms), timeout=30)
    failed = next(m for m in events if of("payments.payout.failed", payout_id=closed)(m))["data"]
    assert (failed["reason"], failed["reserved"]) == ("account_closed", True)
    ledger = await kafka.read_until("danbao.escrow.events", lambda ms: any(
        m["type"] == "escrow.ledger.entry_posted" and m["data"]["kind"] == "payout_returned"
        and any(line["account"] == "merchant_available:M-CLOSED-1" for line in m["data"]["lines"]) for m in ms)
        and any(m["type"] == "escrow.ledger.entry_posted" and m["data"]["kind"] == "payout_paid"
                and any(line["account"] == "merchant_payout_pending:M-1002" for line in m["data"]["lines"]) for m in ms))
    kinds = [m["data"]["kind"] for m in ledger if m["type"] == "escrow.ledger.entry_posted"]
    assert kinds.count("payout_reserved") >= 2


def _danbao(platform: LocalPlatform, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The operator's ``danbao`` command against the platform's databases."""
    env = {**os.environ, "DANBAO_DATA_DIR": str(platform.data_dir), **platform.extra_env}
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=check)


def _balances(platform: LocalPlatform) -> dict[str, int]:
    rows = [line.split(",") for line in _danbao(platform, "ledger", "balances", "--csv").stdout.splitlines()[1:]]
    return {account: int(balance) for account, _, balance in rows}


async def test_a_payment_captured_after_the_order_expired_goes_back_to_the_buyer_by_itself(
        kafka: Kafka, platform: LocalPlatform) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    buyer = f"B-LATE-{order_id}"  # the provider simulator holds back its first answer to this buyer's charges
    await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)
    requests = await kafka.read_until("danbao.psp.requests", _has("psp.charge.requested", order_id=order_id))
    charge = next(m for m in requests if of("psp.charge.requested", order_id=order_id)(m))

    tag = f"clock-{order_id}"  # the provider stays silent past the wait (15 min) and the unpaid deadline (30 min)
    await kafka.send("danbao.control.commands", advance_clock(31 * 60, tag), key="clock")
    await kafka.read_until("danbao.payments.events", _has("payments.order.expired", order_id=order_id), timeout=30)

    for _ in range(2):  # the charge request reaches the provider again: it answers succeeded, twice
        await kafka.send("danbao.psp.requests", charge, key=order_id)
    callbacks = await kafka.read_until("danbao.psp.callbacks", lambda ms: sum(
        of("psp.charge.completed", order_id=order_id)(m) for m in ms) == 2)
    first = next(m for m in callbacks if of("psp.charge.completed", order_id=order_id)(m))
    assert first["data"]["status"] == "succeeded"
    await kafka.send("danbao.psp.callbacks", {**first, "event_id": str(uuid.uuid4())}, key=order_id)  # delivered again

    escrow_events = await kafka.read_until("danbao.escrow.events", _has(
        "escrow.ledger.entry_posted", order_id=order_id, kind="refund_paid_out"), timeout=60)
    mine = [m for m in escrow_events if m["data"].get("order_id") == order_id]
    assert [m["type"] for m in mine] == [
        "escrow.late_capture.booked", "escrow.ledger.entry_posted", "escrow.refund.paid_out", "escrow.ledger.entry_posted"]
    assert (mine[0]["data"]["reason"], mine[0]["data"]["amount"]["amount"], mine[0]["data"]["buyer_id"]) == ("order_expired", 12900, buyer)
    assert {line["account"]: line["amount"] for line in mine[1]["data"]["lines"]} == {
        "psp_clearing": 12900, f"buyer_refunds_payable:{buyer}": -12900}
    assert {line["account"]: line["amount"] for line in mine[3]["data"]["lines"]} == {
        f"buyer_refunds_payable:{buyer}": 12900, "psp_clearing": -12900}
    assert mine[2]["data"]["buyer_id"] == buyer and "退款已原路退回" in mine[2]["data"]["message"]
    assert mine[0]["correlation_id"] == f"flow-{order_id}"

    await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)  # the order stays closed
    payments_events = await kafka.read_until("danbao.payments.events", _has("payments.command.rejected", aggregate_id=order_id))
    mine = [m for m in payments_events if m["data"].get("order_id", m["data"].get("aggregate_id")) == order_id]
    assert [m["type"] for m in mine] == ["payments.order.created", "payments.intent.created", "payments.payment.failed",
                                         "payments.order.expired", "payments.payment.captured_late", "payments.command.rejected"]
    late, rejected = mine[4]["data"], mine[5]["data"]
    assert (late["reason"], late["amount"]["amount"], late["buyer_id"]) == ("order_expired", 12900, buyer)
    assert "全额原路退回" in late["message"] and rejected["reason"] == "order_closed"
    refunds = await kafka.read_until("danbao.psp.requests", _has("psp.refund.requested", order_id=order_id))
    assert [m["data"]["refund_id"] for m in refunds if of("psp.refund.requested", order_id=order_id)(m)] == [
        f"RFL-PI-{order_id}-1"]
    balances = _balances(platform)
    assert balances[f"buyer_refunds_payable:{buyer}"] == 0 and sum(balances.values()) == 0
    assert _danbao(platform, "ledger", "trial-balance", check=False).returncode == 0


def _cancellations(platform: LocalPlatform) -> dict[tuple[str, str], tuple[int, int]]:
    """`danbao report cancellations`: (party, reason) → (orders, fen refunded)."""
    report = _danbao(platform, "report", "cancellations", "--csv")
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in (line.split(",") for line in report.stdout.splitlines()[1:])}


@pytest.fixture(scope="module", autouse=True)
def cancellations_before(platform: LocalPlatform) -> dict[tuple[str, str], tuple[int, int]]:
    """The report before this module's trades: other modules' tests cancel orders on the same platform."""
    return _cancellations(platform)


def test_after_all_of_the_above_the_ledger_is_balanced(
        platform: LocalPlatform, cancellations_before: dict[tuple[str, str], tuple[int, int]]) -> None:
    trial = _danbao(platform, "ledger", "trial-balance", check=False)
    assert trial.returncode == 0, trial.stdout + trial.stderr
    assert "balanced" in trial.stderr
    balances = _balances(platform)
    assert balances and sum(balances.values()) == 0
    assert balances["merchant_available:M-1001"] < 0
    counts = _cancellations(platform)
    # the services' clock has been moved forward: ask for the day the payout was reserved on
    reserved_at = asyncio.run(_payout_reserved_at(platform, "M-1002"))
    statement = _danbao(platform, "report", "merchant", "M-1002", "--csv", "--day", reserved_at.astimezone(CHINA).date().isoformat())
    kinds = [line.split(",")[1] for line in statement.stdout.splitlines()[1:]]
    assert "payout_reserved" in kinds
    before = cancellations_before.get(("merchant", "out_of_stock"), (0, 0))
    assert counts[("buyer", "changed_mind")][0] >= 1
    assert (counts[("merchant", "out_of_stock")][0] - before[0], counts[("merchant", "out_of_stock")][1] - before[1]) == (2, 25800)


async def _payout_reserved_at(platform: LocalPlatform, merchant: str) -> datetime:
    assert platform.broker is not None
    events = await Kafka(platform.broker.bootstrap).read_until("danbao.escrow.events", _has("escrow.payout.reserved", merchant_id=merchant))
    stamp = next(m for m in events if of("escrow.payout.reserved", merchant_id=merchant)(m))["occurred_at"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
