"""The platform audit over event streams the services' own domain functions and contracts produce:
a valid stream passes, each kind of breach is caught by its check, redelivery is counted, not blamed."""

from __future__ import annotations

import copy
import io
import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ops import audit
from shared.contracts import bank
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import insurer
from shared.contracts import notifications as n
from shared.contracts import onboarding as ob
from shared.contracts import payments as p
from shared.money import Money
from tests.audit_platform import Platform, platform

STATES = {"awaiting_payment": 1, "cancelled": 1, "credited": 1, "expired": 1, "in_case": 1, "released": 4, "shipped": 1}
VALID = platform().messages


def failing(report: audit.AuditReport) -> set[str]:
    return {name for name, result in report.checks.items() if result.breaches}


def test_a_valid_stream_passes_every_check_and_folds_each_order_into_one_state() -> None:
    report = audit.check(VALID)
    assert report.breach_count == 0, report.checks
    assert report.ok and report.redelivered == 0 and report.ignored == 0
    assert report.orders_by_state == STATES
    assert all(result.checked > 0 for result in report.checks.values())
    assert {k: report.counts[k] for k in ("holds", "refunds_cancellation", "refunds_case", "late_captures", "cases",
                                          "cases_open", "compensations", "claims", "notifications_sent")} == {
        "holds": 7, "refunds_cancellation": 1, "refunds_case": 3, "late_captures": 1, "cases": 3, "cases_open": 1,
        "compensations": 1, "claims": 1, "notifications_sent": 3}


def test_an_identical_republished_event_is_counted_as_redelivered_never_a_breach() -> None:
    again = [copy.deepcopy(m) for m in VALID[::7]]
    report = audit.check([*VALID, *again])
    assert report.ok and report.redelivered == len(again)
    assert report.counts["events"] == len(VALID)


@settings(max_examples=20, deadline=None)
@given(st.randoms(use_true_random=False), st.lists(st.integers(min_value=0, max_value=len(VALID) - 1), max_size=30))
def test_any_order_and_any_redelivery_of_a_valid_stream_stays_ok(shuffler: random.Random, repeats: list[int]) -> None:
    deliveries = [*VALID, *(copy.deepcopy(VALID[i]) for i in repeats)]
    shuffler.shuffle(deliveries)
    report = audit.check(deliveries)
    assert report.ok and report.redelivered == len(repeats) and report.orders_by_state == STATES


def test_messages_that_are_not_known_events_are_ignored_and_counted() -> None:
    junk = [b"\xff not json", None, 42, ["a"], {"type": "x"}, {**VALID[0], "event_id": "e-1", "type": "payments.order.teleported"},
            {**VALID[0], "event_id": "e-2", "version": 99}]
    report = audit.check([*VALID, *junk])
    assert report.ok and report.ignored == len(junk)


def _mutate(change: Callable[[Platform], object]) -> audit.AuditReport:
    w = platform()
    change(w)
    return audit.check(w.messages)


def _case_amount(w: Platform) -> None:
    w.find(d.RefundOrdered, case_id="C-CASE")["data"]["amount"]["amount"] = 3900


MUTATIONS: dict[str, tuple[Callable[[Platform], object], str, set[str], str]] = {
    # name: (mutation, check, every check that fails, a breach it reports)
    "same event id, other content": (
        lambda w: w.messages.append({**w.find(e.HoldCreated, order_id="O-SHIP"), "producer": "someone-else"}),
        "delivery", {"delivery"}, "published twice with different content"),
    "an event off its contract": (
        lambda w: w.find(e.ShipmentRecorded, order_id="O-SHIP")["data"].pop("tracking_no"), "delivery", {"delivery"},
        "does not match its contract"),
    "the order was never created": (
        lambda w: w.drop(p.OrderCreated, order_id="O-HAPPY"), "orders", {"orders"}, "O-HAPPY: escrow.hold.created"),
    "expired although paid": (
        lambda w: w.emit("payments", p.OrderExpired(order_id="O-SHIP", merchant_id="M-1001", buyer_id="B-2001")),
        "orders", {"orders"}, "O-SHIP: expired, yet paid or cancelled"),
    "paid twice, by two intents": (
        lambda w: w.again(p.PaymentSucceeded, {"intent_id": "PI-O-SHIP-2"}, order_id="O-SHIP"), "orders", {"orders"},
        "O-SHIP: payments.payment.succeeded 2 times"),
    "a hold without a payment": (
        lambda w: w.drop(p.PaymentSucceeded, order_id="O-SHIP"), "orders", {"orders"}, "without a guaranteed payment"),
    "released twice under two event ids": (
        lambda w: w.again(e.HoldReleased, order_id="O-HAPPY"), "holds", {"holds", "ledger"}, "H-O-HAPPY: released 2 times"),
    "a hold refunded in full, then released": (
        lambda w: w.again(e.HoldReleased, {"order_id": "O-CANCEL", "hold_id": "H-O-CANCEL"}, order_id="O-HAPPY"), "holds",
        {"orders", "holds", "ledger", "releases"}, "H-O-CANCEL: released 12900 + refunded 12900 != held 12900"),
    "an unbalanced entry": (
        lambda w: w.find(e.LedgerEntryPosted, order_id="O-HAPPY", kind="hold_released")["data"]["lines"][-1].update(amount=-76),
        "ledger", {"ledger"}, "3 lines summing to 1"),
    "one entry id, two contents": (
        lambda w: w.again(e.LedgerEntryPosted, {"kind": "payment_captured"}, order_id="O-SHIP"), "ledger", {"ledger"},
        "posted twice with different content"),
    "a cancellation refund nobody asked for": (
        lambda w: (w.drop(p.RefundRequested, order_id="O-CANCEL"), w.drop(p.OrderCancelled, order_id="O-CANCEL")), "refunds",
        {"refunds"}, "O-CANCEL: 12900 refunded cancelled_by_buyer, but that party never cancelled it"),
    "a case refund nobody agreed": (
        lambda w: w.drop(d.NegotiationAgreed, case_id="C-CASE"), "refunds", {"refunds"}, "CR-C-CASE-1: 3800 ordered as agreed"),
    "a refund order beyond the agreement": (
        _case_amount, "refunds", {"refunds"}, "CR-C-CASE-1: executed without a refund order"),
    "a late capture payments never recorded": (
        lambda w: w.drop(p.PaymentCapturedLate, order_id="O-EXPIRED"), "refunds", {"refunds"}, "which payments never recorded"),
    "a refund paid out twice": (
        lambda w: w.again(e.RefundPaidOut, order_id="O-CASE"), "refunds", {"refunds"}, "published again"),
    "compensation without a claim": (
        lambda w: w.drop(insurer.ClaimFiled, case_id="C-COMP"), "compensations", {"compensations"},
        "CP-C-COMP-1: no claim CL-C-COMP-1 filed for it"),
    "compensation never granted": (
        lambda w: w.drop(d.CompensationGranted, case_id="C-COMP"), "compensations", {"compensations"}, "never granted"),
    "compensation without a recovery": (
        lambda w: w.drop(e.LedgerEntryPosted, kind="recovery_booked"), "compensations", {"compensations", "ledger"},
        "O-COMP: compensation 12900 paid for M-1002, 0 booked as owed by it"),
    "more repaid than owed": (
        lambda w: w.emit("escrow", e.RecoveryRepaid(merchant_id="M-1002", order_id="O-NEXT", amount=Money(amount=7000), merchant_owes=0)),
        "compensations", {"compensations"}, "M-1002: repaid 13450, owed at most 12900"),
    "a transfer to an account onboarding never verified": (
        lambda w: w.find(bank.TransferRequested, payout_id="PO-1003-1")["data"].update(account_ref="ACCT-M-1003"), "payouts",
        {"payouts"}, "PO-1003-1: transfer to ACCT-M-1003, not an account onboarding verified for M-1003 (SA-1003)"),
    "a transfer for a merchant that announced no account": (
        lambda w: w.find(ob.MerchantActivated, merchant_id="M-1003")["data"].pop("settlement_account_ref"), "payouts",
        {"payouts"}, "not an account onboarding verified for M-1003 (none announced)"),
    "a transfer nobody scheduled": (
        lambda w: w.drop(p.PayoutScheduled, payout_id="PO-1003-1"), "payouts", {"payouts"}, "without a payout scheduled"),
    "a transfer scheduled on New Year's Day": (
        lambda w: w.find(p.PayoutScheduled, payout_id="PO-1003-1")["data"].update(transfer_at="2027-01-01T01:00:00Z"), "payouts",
        {"payouts"}, "PO-1003-1: scheduled on 2027-01-01, not a business day"),
    "a transfer scheduled on a make-up day's weekday off": (
        lambda w: w.find(p.PayoutScheduled, payout_id="PO-1003-1")["data"].update(transfer_at="2026-10-07T01:00:00Z"), "payouts",
        {"payouts"}, "scheduled on 2026-10-07, not a business day"),
    "a transfer scheduled into a year without holiday data": (
        lambda w: w.find(p.PayoutScheduled, payout_id="PO-1003-1")["data"].update(transfer_at="2028-01-04T01:00:00Z"), "payouts",
        {"payouts"}, "in 2028, which the audit's calendar has no holiday data for"),
    "a notification sent twice": (
        lambda w: w.again(n.NotificationSent, recipient_id="M-1001"), "notifications", {"notifications"}, "published again"),
    "two notifications for one event, recipient and channel": (
        lambda w: w.again(n.NotificationSent, {"notification_id": "N-other"}, recipient_id="M-1001"), "notifications",
        {"notifications"}, "both told merchant M-1001 by push"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_breach_is_reported_by_its_check(name: str) -> None:
    change, check, checks, breach = MUTATIONS[name]
    report = _mutate(change)
    assert not report.ok
    assert failing(report) == checks, report.checks
    assert any(breach in b for b in report.checks[check].breaches), report.checks[check].breaches


def test_a_transfer_to_a_development_account_is_a_breach_in_production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    assert audit.check(VALID).counts["payout_transfers"] == 2
    monkeypatch.setenv("DANBAO_MODE", "production")
    report = audit.check(VALID)
    assert failing(report) == {"payouts"}
    assert report.checks["payouts"].breaches == [
        "PO-1001-1: transfer to SA-DEV-M-1001, not an account onboarding verified for M-1001 (none announced)"]


def test_an_entry_posted_again_with_the_same_content_is_one_entry() -> None:
    report = _mutate(lambda w: w.again(e.LedgerEntryPosted, order_id="O-SHIP"))
    assert report.ok and report.counts["ledger_entries"] == audit.check(VALID).counts["ledger_entries"]


def test_the_report_renders_checks_counts_and_breaches() -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(*audit.render(audit.check(VALID)))
    text = console.export_text()
    assert "no breach" in text and "orders in_case (live)" in text and "redelivered" in text
    console.print(*audit.render(_mutate(MUTATIONS["released twice under two event ids"][0]), limit=1))
    text = console.export_text()
    assert "holds: H-O-HAPPY: released 2 times" in text and "… and 1 more" in text and "breaches" in text


class FakeConsumer:
    """Two partitions; like Tansu, the end offset of the first one stops short of its last record."""

    LOGS = {TopicPartition(audit.TOPICS[0], 0): [b'{"a": 1}', b'{"a": 2}', b'{"a": 3}'], TopicPartition(audit.TOPICS[1], 1): [b"x"]}
    stuck = False

    def __init__(self, **_: object) -> None:
        self.logs = {tp: list(records) for tp, records in self.LOGS.items()}
        self.positions: dict[TopicPartition, int] = {}
        self._client = SimpleNamespace(force_metadata_update=self._noop)

    async def _noop(self) -> None:
        return None

    start = stop = _noop

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {tp.partition for tp in self.logs if tp.topic == topic} or None

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.positions = dict.fromkeys(partitions, 0)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp]) - (tp.partition == 0) for tp in partitions}

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.positions.update(dict.fromkeys(partitions, 0))

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
        if self.stuck:
            return {}
        batch = {}
        for tp in partitions or self.positions:
            start = self.positions[tp]
            records = [SimpleNamespace(offset=i, value=v) for i, v in enumerate(self.logs[tp][start:start + 2], start)]
            if records:
                batch[tp] = records
            self.positions[tp] += len(records)
        return batch


async def test_read_events_reads_every_partition_to_its_end_then_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit.reading, "AIOKafkaConsumer", FakeConsumer)
    assert sorted(map(str, await audit.read_events("broker:9092"))) == sorted(map(str, [{"a": 1}, {"a": 2}, {"a": 3}, b"x"]))
    monkeypatch.setattr(FakeConsumer, "stuck", True)
    with pytest.raises(TimeoutError, match="nothing read"):
        await audit.read_events("broker:9092", idle_timeout=0.3)
