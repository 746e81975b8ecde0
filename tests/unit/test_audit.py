"""The platform audit over event streams the services' own domain functions and contracts produce:
a valid stream passes, each kind of breach is caught by its check, redelivery is counted, not blamed."""

from __future__ import annotations

import copy
import io
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ops import audit
from services.disputes import domain as cases
from services.escrow import domain as escrow
from services.notifications.domain import notification_id
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import insurer
from shared.contracts import notifications as n
from shared.contracts import payments as p
from shared.envelope import Actor, ActorKind, Envelope, Payload
from shared.money import Money

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)
Message = dict[str, Any]


class Platform:
    """Publishes, step by step, what the services would: their domain functions decide, the contracts carry it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.orders: dict[str, p.OrderCreated] = {}
        self.holds: dict[str, escrow.Hold] = {}
        self.cases: dict[str, cases.Case] = {}
        self.balances: Counter[str] = Counter()

    # -- publishing and finding -----------------------------------------------------------------

    def emit(self, producer: str, *payloads: Payload) -> None:
        self.messages += [Envelope(type=x.TYPE, producer=producer, actor=Actor.system(producer), occurred_at=NOW,  # type: ignore[attr-defined]
                                   data=x).model_dump(mode="json") for x in payloads]

    def post(self, *entries: escrow.JournalEntry | None) -> None:
        for entry in filter(None, entries):
            self.balances.update({line.account: line.amount for line in entry.lines})
            self.emit("escrow", e.LedgerEntryPosted(entry_id=f"JE-{uuid.uuid4().hex[:20]}", order_id=entry.order_id,
                                                    kind=entry.kind, currency=entry.currency, lines=list(entry.lines)))

    def find(self, cls: type[Payload], **match: Any) -> Message:
        return next(m for m in self.messages if m["type"] == cls.TYPE and match.items() <= m["data"].items())  # type: ignore[attr-defined]

    def drop(self, cls: type[Payload], **match: Any) -> None:
        self.messages.remove(self.find(cls, **match))

    def again(self, cls: type[Payload], changes: dict[str, Any] | None = None, **match: Any) -> Message:
        """A copy of the first such event under a new event id, its data changed by ``changes``."""
        twin = copy.deepcopy(self.find(cls, **match))
        twin["event_id"] = str(uuid.uuid4())
        twin["data"].update(changes or {})
        self.messages.append(twin)
        return twin

    # -- orders, payments, holds ----------------------------------------------------------------

    def owed(self, merchant_id: str) -> int:
        return self.balances[escrow.merchant_recovery_receivable(merchant_id)]

    def available(self, merchant_id: str) -> int:
        return -self.balances[escrow.merchant_available(merchant_id)]

    def order(self, order_id: str, merchant: str = "M-1001", buyer: str = "B-2001", amount: int = 12900,
              guaranteed: bool = True) -> None:
        self.orders[order_id] = created = p.OrderCreated(
            order_id=order_id, merchant_id=merchant, buyer_id=buyer, amount=Money(amount=amount), guaranteed=guaranteed,
            auto_confirm_days=7, items=[p.OrderItem(sku="SKU-1", name="shoes", quantity=1, unit_price=amount)])
        self.emit("payments", created)

    def pay(self, order_id: str) -> None:
        o = self.orders[order_id]
        payment = p.PaymentSucceeded(order_id=order_id, intent_id=f"PI-{order_id}-1", merchant_id=o.merchant_id, buyer_id=o.buyer_id,
                                     amount=o.amount, fee=77, guaranteed=o.guaranteed, auto_confirm_days=7,
                                     method=p.PaymentMethod.QR_CODE, provider_txn_id="PSP-1")
        self.emit("payments", payment)
        booked = escrow.capture(payment, already_captured=False, owed=self.owed(o.merchant_id))
        assert booked is not None
        if booked.hold is not None:
            self.holds[order_id] = booked.hold
        self.emit("escrow", *booked.events)
        self.post(booked.entry)

    def hold(self, decision: escrow.HoldDecision) -> None:
        self.holds[decision.hold.order_id] = decision.hold
        self.emit("escrow", *decision.events)
        self.post(decision.entry)

    def ship(self, order_id: str) -> None:
        hold = self.holds[order_id]
        self.hold(escrow.record_shipment(hold, e.RecordShipment(order_id=order_id, carrier="SF", tracking_no="SF1"),
                                         Actor(kind=ActorKind.MERCHANT, id=hold.merchant_id), NOW))

    def release(self, order_id: str) -> None:
        hold = self.holds[order_id]
        self.hold(escrow.release(hold, "buyer_confirmed", self.owed(hold.merchant_id)))

    def paid_out(self, refund_id: str, order_id: str, amount: Money) -> None:
        journal, event = escrow.refund_paid_out(refund_id, order_id, self.orders[order_id].buyer_id, amount)
        self.emit("escrow", event)
        self.post(journal)

    def cancel(self, order_id: str) -> None:
        o, reason = self.orders[order_id], p.CancelReason.CHANGED_MIND
        self.emit("payments", p.RefundRequested(order_id=order_id, buyer_id=o.buyer_id, amount=o.amount, party="buyer", reason=reason))
        decision = escrow.refund_for_cancellation(self.holds[order_id], order_id, o.amount.amount, "cancelled_by_buyer")
        assert isinstance(decision, escrow.HoldDecision)
        self.hold(decision)
        self.emit("payments", p.OrderCancelled(order_id=order_id, merchant_id=o.merchant_id, buyer_id=o.buyer_id, party="buyer",
                                               reason=reason, refunded=o.amount))
        self.paid_out(f"RF-{order_id}-{decision.hold.refunded}", order_id, o.amount)

    def expire_and_capture_late(self, order_id: str) -> None:
        o = self.orders[order_id]
        late = p.PaymentCapturedLate(order_id=order_id, intent_id=f"PI-{order_id}-1", merchant_id=o.merchant_id, buyer_id=o.buyer_id,
                                     amount=o.amount, provider_txn_id="PSP-2", reason="order_expired", message="refunded")
        self.emit("payments", p.OrderExpired(order_id=order_id, merchant_id=o.merchant_id, buyer_id=o.buyer_id), late)
        booked = escrow.book_late_capture(late, already_booked=False)
        assert booked is not None
        self.emit("escrow", *booked.events)
        self.post(booked.entry)
        self.paid_out(booked.refund.refund_id, order_id, o.amount)

    def payout_everything(self, merchant_id: str) -> None:
        amount = Money(amount=self.available(merchant_id))
        journal, event = escrow.reserve_payout(f"PO-{merchant_id}", merchant_id, amount, amount.amount)
        self.emit("escrow", event)
        self.post(journal, escrow.payout_paid(merchant_id, amount))

    # -- cases ----------------------------------------------------------------------------------

    def case(self, decision: cases.CaseDecision) -> list[Payload]:
        self.cases[decision.case.case_id] = decision.case
        self.emit("disputes", *decision.events, *filter(None, [decision.claim]))
        return decision.events

    def open_case(self, case_id: str, order_id: str, requested: int) -> None:
        o, hold = self.orders[order_id], self.holds[order_id]
        view = cases.OrderView(order_id=order_id, buyer_id=o.buyer_id, merchant_id=o.merchant_id, paid=o.amount.amount,
                               currency="CNY", released_at=NOW if hold.status is escrow.HoldStatus.RELEASED else None)
        command = d.OpenCase(case_id=case_id, order_id=order_id, reason=d.CaseReason.PRICE_DIFFERENCE,
                             requested=Money(amount=requested), description="charged more than listed")
        self.case(cases.open_case(None, None, view, command, Actor(kind=ActorKind.BUYER, id=o.buyer_id), NOW, cases.Policy()))
        frozen = escrow.freeze(hold, case_id, NOW)
        if frozen is not None:
            self.hold(frozen)

    def accept(self, case_id: str) -> None:
        """The merchant accepts; escrow executes the refund order; a shortfall is compensated from the pool."""
        case = self.cases[case_id]
        answer = d.RespondToCase(case_id=case_id, response=d.MerchantResponse.ACCEPT)
        events = self.case(cases.respond(case, answer, Actor(kind=ActorKind.MERCHANT, id=case.merchant_id), NOW, cases.Policy()))
        ordered = next(x for x in events if isinstance(x, d.RefundOrdered))
        executed = escrow.execute_case_refund(ordered, self.holds.get(case.order_id), self.available(case.merchant_id))
        if executed.hold is not None:
            self.holds[case.order_id] = executed.hold
        self.emit("escrow", *executed.events)
        self.post(executed.entry)
        if executed.refund is not None:
            self.paid_out(executed.refund.refund_id, case.order_id, executed.refund.amount)
        for granted in self.case(cases.refund_executed(self.cases[case_id], ordered.refund_id, executed.from_hold, executed.from_merchant,
                                                       executed.shortfall, case.reason.value, 0, cases.Policy())):
            assert isinstance(granted, d.CompensationGranted)
            compensation = escrow.grant_compensation(granted, self.owed(granted.merchant_id))
            assert compensation is not None
            self.emit("escrow", compensation.event)
            self.post(compensation.paid, compensation.recovery)
            self.paid_out(compensation.refund.refund_id, case.order_id, granted.amount)

    def insurer_pays(self, case_id: str, approved: int) -> None:
        case = self.cases[case_id]
        claim_id = cases.claim_id(cases.refund_id(case_id, 1))
        decided = d.ClaimDecisionRecorded(**case.parties(), claim_id=claim_id, decision="partial",
                                          claimed=case.money(case.compensated), approved=case.money(approved))
        paid = d.ClaimPaymentRecorded(**case.parties(), claim_id=claim_id, amount=case.money(approved))
        self.emit("disputes", decided, paid)
        self.post(escrow.claim_approved(decided, self.owed(case.merchant_id)), escrow.claim_paid(paid))

    def close(self, case_id: str) -> None:
        for day in (1, 2, 3):
            self.case(cases.verification_day(self.cases[case_id], day, NOW))
        unfrozen = escrow.unfreeze(self.holds[self.cases[case_id].order_id], case_id, NOW)
        if unfrozen is not None:
            self.hold(unfrozen)

    def notify(self, source: Message, recipient: str = "buyer", recipient_id: str = "B-2001", channel: str = "sms") -> None:
        role, via = n.PartyKind(recipient), n.Channel(channel)
        self.emit("notifications", n.NotificationSent(
            notification_id=notification_id(source["event_id"], role, recipient_id, via), source_event_id=source["event_id"],
            source_type=source["type"], recipient=role, recipient_id=recipient_id, channel=via, template=f"x.{recipient}",
            language=n.Language.ZH_CN, to_masked="138****5678", attempts=1))


def platform() -> Platform:
    w = Platform()
    w.order("O-HAPPY")
    w.pay("O-HAPPY")
    w.ship("O-HAPPY")
    w.release("O-HAPPY")
    w.order("O-CANCEL", buyer="B-2002")
    w.pay("O-CANCEL")
    w.cancel("O-CANCEL")
    w.order("O-CASE")  # 38 yuan back from the hold, the rest released after the case
    w.pay("O-CASE")
    w.ship("O-CASE")
    w.open_case("C-CASE", "O-CASE", 3800)
    w.accept("C-CASE")
    w.close("C-CASE")
    w.release("O-CASE")
    w.order("O-COMP", merchant="M-1002", buyer="B-2003")  # released, withdrawn, then refunded: the pool pays
    w.pay("O-COMP")
    w.ship("O-COMP")
    w.release("O-COMP")
    w.payout_everything("M-1002")
    w.open_case("C-COMP", "O-COMP", 12900)
    w.accept("C-COMP")
    w.insurer_pays("C-COMP", 6450)
    w.close("C-COMP")
    w.order("O-NEXT", merchant="M-1002", buyer="B-2004", amount=20000)  # the merchant's next sale repays the rest
    w.pay("O-NEXT")
    w.ship("O-NEXT")
    w.release("O-NEXT")
    w.order("O-SHIP")
    w.pay("O-SHIP")
    w.ship("O-SHIP")
    w.order("O-VERIFY")  # a case still in its three-day verification: live
    w.pay("O-VERIFY")
    w.open_case("C-VERIFY", "O-VERIFY", 1000)
    w.accept("C-VERIFY")
    w.order("O-UNPAID")
    w.order("O-EXPIRED")
    w.expire_and_capture_late("O-EXPIRED")
    w.order("O-DIRECT", guaranteed=False)
    w.pay("O-DIRECT")
    released = w.find(e.HoldReleased, order_id="O-HAPPY")
    w.notify(released)
    w.notify(released, "merchant", "M-1001", "push")
    w.notify(w.find(e.HoldRefunded, order_id="O-CANCEL"), recipient_id="B-2002")
    return w


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
