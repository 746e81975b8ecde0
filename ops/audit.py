"""`danbao audit`: the platform checked as a whole, from the events its services published.

It reads ``danbao.{payments,escrow,disputes,notifications,onboarding}.events`` and
``danbao.insurer.requests`` (where disputes files its insurer claims), every partition, from the
beginning until nothing more comes, and checks what they say together.
Run it once the platform is quiet: an event still in an outbox is not seen. No check depends on
the order the events were read in (topics interleave arbitrarily), only on the set of distinct
events, so the same events in any order give the same report.

Delivery is at least once: a relay that crashed between publishing and marking republishes with
the same ``event_id``. Events are deduplicated by ``event_id``; an identical copy is counted as
*redelivered*, never a breach. A message that is not a JSON object with an ``event_id`` and a
``type``, or whose type or version this code does not know, is *ignored* and counted.

Checks (each counts what it checked and lists its breaches):

delivery
    One event id, one content: the same ``event_id`` with different content is a breach, and so
    is an event of a known type that does not match its contract.
orders
    Every order any event names (``data.order_id``: payments, escrow and its ledger entries,
    disputes, insurer claims) was created (``payments.order.created``). At most one
    ``payments.order.created``, ``payments.payment.succeeded``, ``escrow.hold.created``,
    ``escrow.merchant.credited``, ``payments.order.expired`` and ``payments.order.cancelled``
    per order. The payment matches the order (amount, buyer, merchant, guaranteed); a hold is only
    for a guaranteed payment, of its amount; a credit only for a direct one. An expired order was
    neither paid nor cancelled. A cancelled order was not released, its ``refunded`` equals its
    cancellation refunds from the hold, and for a paid order that is the whole payment. No
    cancellation refund of a shipped hold. A late capture's reason agrees with the order
    (``order_expired``: it expired; ``order_cancelled``: it was cancelled; ``already_paid``: it
    was paid), and no intent both paid the order and was captured late.
    Each order folds into one state, the first that applies: ``expired``, ``cancelled``,
    ``cancelling`` (a cancellation refund requested and not answered, or refunded and not yet
    reported cancelled), ``released``, ``refunded`` (its hold refunded in full by cases),
    ``credited`` (a direct payment), ``in_case`` (its hold frozen by a case not yet closed),
    ``shipped``, ``held``, ``paid`` (escrow has not booked it yet), ``awaiting_payment``.
    The live states (``awaiting_payment``, ``paid``, ``held``, ``shipped``, ``in_case``,
    ``cancelling``) are not breaches.
holds
    Per ``hold_id``: its ``escrow.hold.created`` exists, and all its events name that order. At most
    one ``escrow.hold.released`` and one ``escrow.shipment.recorded``. Settled at most once: when
    released, released + refunded = held (a release takes all that remains, so a hold refunded in
    full is never released too); otherwise refunded <= held. The lowest ``remaining`` of its
    refunds is held - refunded. A release's ``net`` = amount - fee, 0 <= fee <= amount and
    0 <= ``recovered`` <= net.
ledger
    ``escrow.ledger.entry_posted`` by ``entry_id`` (two events posting one id with different content
    is a breach; with the same content, one entry). Each entry has two lines or more, none zero,
    summing to zero; each currency sums to zero. ``escrow_holding`` lines carry an order, and per
    order that account's balance is a credit equal to what the hold events leave held
    (held - released - refunded). Liabilities (``escrow_holding``, ``merchant_available:*``,
    ``merchant_payout_pending:*``, ``buyer_refunds_payable:*``) never end in debit, assets
    (``merchant_recovery_receivable:*``, ``insurer_receivable``) never in credit, and the
    ``compensation_pool``, a passage, ends at zero.
refunds
    An ``escrow.hold.refunded`` ``cancelled_by_<party>`` has a ``payments.refund.requested`` or a
    ``payments.order.cancelled`` of its order by that party and of its amount, and an order has at
    most one. The ``case_refund`` ones match, per order, what the ``escrow.case_refund.executed``
    took from the hold (the same amounts). Any other reason is a breach. A
    ``case_refund.executed`` (one per ``refund_id``) carries out the ``disputes.refund.ordered``
    of that id (case, order, amount), and from_hold + from_merchant + shortfall = amount. A
    ``refund.ordered`` (one per ``refund_id``) is for a ``disputes.case.opened`` (one per case)
    on its order and follows an outcome of that case and amount: ``disputes.negotiation.agreed``
    (basis ``agreed``) or a ``disputes.case.ruled`` that is not a rejection (basis ``ruled``), no
    more orders than such outcomes; a case orders at most what the buyer paid
    (``case.opened.paid``). An order gives back at most what was paid: cancellation refunds + case
    refunds covered (hold and merchant) + compensation <= the payment. An
    ``escrow.late_capture.booked`` (one per intent) has its ``payments.payment.captured_late``
    (one per intent; same order, amount): a refund of its
    own, accepted and counted. An ``escrow.refund.paid_out`` (one per ``refund_id``) pays what was
    owed, of that order and amount: a late capture's ``refund_id``, a case refund's or a
    compensation's ``provider_refund_id``, or else a cancellation refund of the order (no event
    carries a cancellation's provider refund id, so it is matched by order and amount).
compensations
    An ``escrow.compensation.paid`` (one per ``compensation_id``) has its
    ``disputes.compensation.granted`` (one per id; same case, order, buyer, merchant, amount), whose
    claim was filed with the insurer (``insurer.claim.filed``, one per claim id; same case, order,
    merchant, amount), for a refund order executed short of at least that much. The recovery: per
    order and merchant, the compensation paid equals what the ``recovery_booked`` entries book as owed
    (``merchant_recovery_receivable:<merchant>``), and per order what the ``compensation_paid``
    entries take from the ``compensation_pool``. Per merchant, ``escrow.recovery.repaid`` never
    exceeds the compensation paid for it. ``disputes.claim.decided`` and ``disputes.claim.paid``
    (one each per claim) are for a granted claim: claimed = granted, approved <= claimed,
    paid <= approved.
notifications
    No two ``notifications.notification.sent`` (distinct event ids) for one ``notification_id``;
    no two notification ids sent for one (source event, recipient, recipient id, channel); none
    both sent and failed; each sent or failed one tells about an event on the topics read, of
    its ``source_type``.

What the events cannot decide, so nothing here claims it: whether the provider paid a refund or
the bank a payout (their callbacks are not read; ``refund.paid_out`` is escrow's record of it);
fees against the fee schedule (the rate depends on the merchant's monthly volume); the
compensation caps (settings); anything that hangs on the order of events across topics or
partitions (e.g. that nothing was released while frozen). A guaranteed payment escrow has not
booked, a compensation granted and not paid, a claim not decided: live, not breaches.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from services.escrow.domain import (
    COMPENSATION_POOL,
    ESCROW_HOLDING,
    INSURER_RECEIVABLE,
    buyer_refunds_payable,
    merchant_available,
    merchant_payout_pending,
    merchant_recovery_receivable,
)
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import insurer, notifications, onboarding
from shared.contracts import payments as p
from shared.contracts.catalog import UnsupportedVersion
from shared.envelope import Envelope, Payload
from shared.kafka_security import aiokafka_options

P = TypeVar("P", bound=Payload)

CONTRACTS = (p.EVENTS, e.EVENTS, d.EVENTS, notifications.EVENTS, onboarding.EVENTS, insurer.REQUESTS)
TOPICS = [contract.topic for contract in CONTRACTS]
_CONTRACT_OF = {type_: contract for contract in CONTRACTS for type_ in contract.payloads}
CHECKS = ("delivery", "orders", "holds", "ledger", "refunds", "compensations", "notifications")
LIVE_STATES = ("awaiting_payment", "paid", "held", "shipped", "in_case", "cancelling")
LIABILITIES = (ESCROW_HOLDING, merchant_available(""), merchant_payout_pending(""), buyer_refunds_payable(""))
ASSETS = (merchant_recovery_receivable(""), INSURER_RECEIVABLE)
CANCELLED_BY = "cancelled_by_"


@dataclass
class CheckResult:
    checked: int = 0
    breaches: list[str] = field(default_factory=list)

    def expect(self, condition: bool, breach: str) -> None:
        if not condition:
            self.breaches.append(breach)


@dataclass
class AuditReport:
    checks: dict[str, CheckResult] = field(default_factory=lambda: {name: CheckResult() for name in CHECKS})
    redelivered: int = 0  # copies of an event id with the same content
    ignored: int = 0  # not an event of a known type and version
    orders_by_state: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def breach_count(self) -> int:
        return sum(len(result.breaches) for result in self.checks.values())

    @property
    def ok(self) -> bool:
        return self.breach_count == 0


def _type(kind: type[Payload]) -> str:
    return kind.TYPE  # type: ignore[attr-defined, no-any-return]


def _fen(items: Iterable[Any]) -> int:
    """The sum of the items' ``amount`` (Money)."""
    return sum(item.amount.amount for item in items)


def _first(items: list[P]) -> P | None:
    return items[0] if items else None


class Stream:
    """The distinct events, by type and by the order they name."""

    def __init__(self, events: list[Envelope]) -> None:
        self.by_id = {str(event.event_id): event for event in events}
        self._types: defaultdict[str, list[Any]] = defaultdict(list)
        self.orders: defaultdict[str, defaultdict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for event in events:
            self._types[event.type].append(event.data)
            order_id = getattr(event.data, "order_id", None)
            if order_id:
                self.orders[order_id][event.type].append(event.data)

    def all(self, kind: type[P]) -> list[P]:
        return self._types.get(_type(kind), [])

    def of(self, order_id: str | None, kind: type[P]) -> list[P]:
        found = self.orders.get(order_id or "")
        return found.get(_type(kind), []) if found else []

    def once(self, result: CheckResult, kind: type[P], key: str) -> dict[str, P]:
        """``kind``'s events by their ``key`` field; a key two distinct events carry is a breach."""
        by_key: dict[str, P] = {}
        for item in self.all(kind):
            value = getattr(item, key)
            result.expect(value not in by_key, f"{value}: {_type(kind)} published again under another event id")
            by_key.setdefault(value, item)
        return by_key

    def cancellation_refunds(self, order_id: str) -> list[e.HoldRefunded]:
        return [x for x in self.of(order_id, e.HoldRefunded) if x.reason.startswith(CANCELLED_BY)]


def check(messages: Iterable[Any]) -> AuditReport:
    """Check decoded envelopes (as published on the event topics, in any order, redeliveries included)."""
    report = AuditReport()
    checks = report.checks
    stream = _distinct(messages, report)
    entries = _entries(stream, checks["ledger"])
    report.orders_by_state = dict(sorted(_orders(stream, checks["orders"]).items()))
    _holds(stream, checks["holds"])
    _ledger(stream, entries, checks["ledger"])
    _refunds(stream, checks["refunds"])
    _compensations(stream, entries, checks["compensations"])
    _notifications(stream, checks["notifications"])
    report.counts = _counts(stream, entries)
    return report


def _counts(s: Stream, entries: dict[str, e.LedgerEntryPosted]) -> dict[str, int]:
    def count(kind: type[Payload]) -> int:
        return len(s.all(kind))

    return {"events": len(s.by_id), "holds": count(e.HoldCreated), "ledger_entries": len(entries),
            "refunds_cancellation": sum(len(s.cancellation_refunds(o)) for o in s.orders),
            "refunds_case": count(e.CaseRefundExecuted), "late_captures": count(e.LateCaptureBooked),
            "refunds_paid_out": count(e.RefundPaidOut), "cases": count(d.CaseOpened),
            "cases_open": len({x.case_id for x in s.all(d.CaseOpened)} - {x.case_id for x in s.all(d.CaseClosed)}),
            "compensations": count(e.CompensationPaid), "claims": count(insurer.ClaimFiled),
            "notifications_sent": count(notifications.NotificationSent),
            "notifications_failed": count(notifications.NotificationFailed)}


def _distinct(messages: Iterable[Any], report: AuditReport) -> Stream:
    delivery = report.checks["delivery"]
    seen: dict[str, dict[str, Any]] = {}
    events: list[Envelope] = []
    for document in messages:
        if not (isinstance(document, dict) and isinstance(document.get("event_id"), str)
                and isinstance(document.get("type"), str)):
            report.ignored += 1
            continue
        event_id, type_ = document["event_id"], document["type"]
        if event_id in seen:
            same = seen[event_id] == document
            report.redelivered += same
            delivery.expect(same, f"event {event_id} ({type_}) published twice with different content")
            continue
        seen[event_id] = document
        contract = _CONTRACT_OF.get(type_)
        if contract is None:
            report.ignored += 1
            continue
        try:
            events.append(contract.parse(document))
        except UnsupportedVersion:
            report.ignored += 1
        except ValidationError as exc:
            delivery.breaches.append(f"event {event_id} ({type_}) does not match its contract: {exc.errors()[0]['msg']}")
    delivery.checked = len(seen)
    return Stream(events)


# -- orders -------------------------------------------------------------------------------------


def _orders(s: Stream, r: CheckResult) -> Counter[str]:
    states: Counter[str] = Counter()
    for o, types in s.orders.items():
        r.checked += 1
        order, payment = _first(s.of(o, p.OrderCreated)), _first(s.of(o, p.PaymentSucceeded))
        hold, cancelled = _first(s.of(o, e.HoldCreated)), _first(s.of(o, p.OrderCancelled))
        expired = s.of(o, p.OrderExpired)
        r.expect(order is not None, f"{o}: {', '.join(sorted(types))}, but the order was never created")
        for kind in (p.OrderCreated, p.PaymentSucceeded, e.HoldCreated, e.MerchantCredited, p.OrderExpired, p.OrderCancelled):
            count = len(s.of(o, kind))
            r.expect(count <= 1, f"{o}: {_type(kind)} {count} times")
        if order and payment:
            r.expect((payment.amount, payment.buyer_id, payment.merchant_id, payment.guaranteed)
                     == (order.amount, order.buyer_id, order.merchant_id, order.guaranteed), f"{o}: the payment does not match the order")
        if hold:
            r.expect(payment is not None and payment.guaranteed and payment.amount == hold.amount,
                     f"{o}: hold {hold.hold_id} without a guaranteed payment of its amount")
        if s.of(o, e.MerchantCredited):
            r.expect(payment is not None and not payment.guaranteed, f"{o}: credited to the merchant without a direct payment")
        r.expect(not (expired and (payment or cancelled)), f"{o}: expired, yet paid or cancelled")
        refunded = _fen(s.cancellation_refunds(o))
        if cancelled:
            r.expect(not s.of(o, e.HoldReleased), f"{o}: cancelled and released")
            r.expect(cancelled.refunded.amount == refunded,
                     f"{o}: cancelled with {cancelled.refunded.amount} refunded, but the hold refunded {refunded} for it")
            r.expect(payment is None or refunded == payment.amount.amount,
                     f"{o}: cancelled after payment, yet {refunded} of {payment.amount.amount if payment else 0} refunded")
        r.expect(not (refunded and s.of(o, e.ShipmentRecorded)), f"{o}: refunded for a cancellation after shipment")
        implied = {"order_expired": bool(expired), "order_cancelled": cancelled is not None, "already_paid": payment is not None}
        for late in s.of(o, p.PaymentCapturedLate):
            r.expect(payment is None or late.intent_id != payment.intent_id,
                     f"{o}: intent {late.intent_id} both paid the order and was captured late")
            r.expect(implied.get(late.reason, True), f"{o}: late capture {late.intent_id} says {late.reason}, "
                                                     "which the order's events contradict")
        states[_state(s, o)] += 1
    return states


def _state(s: Stream, o: str) -> str:
    hold = _first(s.of(o, e.HoldCreated))
    frozen = {x.case_id for x in s.of(o, e.HoldFrozen)} - {x.case_id for x in s.of(o, e.HoldUnfrozen)}
    answered = len(s.of(o, e.RefundRefused)) + len(s.cancellation_refunds(o))
    facts = (
        ("expired", s.of(o, p.OrderExpired)),
        ("cancelled", s.of(o, p.OrderCancelled)),
        ("cancelling", s.cancellation_refunds(o) or len(s.of(o, p.RefundRequested)) > answered),
        ("released", s.of(o, e.HoldReleased)),
        ("refunded", hold and _fen(s.of(o, e.HoldRefunded)) >= hold.amount.amount),
        ("credited", s.of(o, e.MerchantCredited)),
        ("in_case", frozen),
        ("shipped", s.of(o, e.ShipmentRecorded)),
        ("held", hold),
        ("paid", s.of(o, p.PaymentSucceeded)),
        ("awaiting_payment", s.of(o, p.OrderCreated)),
    )
    return next((state for state, applies in facts if applies), "never_created")


# -- holds and the ledger ------------------------------------------------------------------------


def _holds(s: Stream, r: CheckResult) -> None:
    created = {x.hold_id: x for x in s.all(e.HoldCreated)}
    events: defaultdict[str, list[Any]] = defaultdict(list)
    for kind in (e.ShipmentRecorded, e.HoldReleased, e.HoldRefunded, e.HoldFrozen, e.HoldUnfrozen):
        for item in s.all(kind):
            events[item.hold_id].append(item)
    for hold_id in sorted(created.keys() | events.keys()):
        r.checked += 1
        hold, of = created.get(hold_id), events[hold_id]
        if hold is None:
            r.breaches.append(f"{hold_id}: {len(of)} events of a hold never created")
            continue
        r.expect(all(x.order_id == hold.order_id for x in of), f"{hold_id}: events name another order than {hold.order_id}")
        released = [x for x in of if isinstance(x, e.HoldReleased)]
        refunds = [x for x in of if isinstance(x, e.HoldRefunded)]
        shipments = [x for x in of if isinstance(x, e.ShipmentRecorded)]
        r.expect(len(released) <= 1, f"{hold_id}: released {len(released)} times")
        r.expect(len(shipments) <= 1, f"{hold_id}: shipped {len(shipments)} times")
        held, refunded, out = hold.amount.amount, _fen(refunds), _fen(released)
        r.expect(refunded + out == held if released else refunded <= held,
                 f"{hold_id}: released {out} + refunded {refunded} {'!=' if released else '>'} held {held}")
        r.expect(not refunds or min(x.remaining for x in refunds) == held - refunded,
                 f"{hold_id}: its refunds leave {min((x.remaining for x in refunds), default=0)}, not {held - refunded}")
        for x in released:
            r.expect(0 <= x.fee <= x.amount.amount and x.net == x.amount.amount - x.fee and 0 <= x.recovered <= x.net,
                     f"{hold_id}: release of {x.amount.amount} with fee {x.fee}, net {x.net}, recovered {x.recovered}")


def _entries(s: Stream, r: CheckResult) -> dict[str, e.LedgerEntryPosted]:
    """The ledger entries by id; one id posted with different content is a breach."""
    entries: dict[str, e.LedgerEntryPosted] = {}
    for entry in s.all(e.LedgerEntryPosted):
        first = entries.setdefault(entry.entry_id, entry)
        r.expect(first == entry, f"{entry.entry_id}: posted twice with different content")
    return entries


def _ledger(s: Stream, entries: dict[str, e.LedgerEntryPosted], r: CheckResult) -> None:
    balances: Counter[tuple[str, str]] = Counter()
    holding: Counter[str] = Counter()
    for entry in entries.values():
        r.checked += 1
        total = sum(line.amount for line in entry.lines)
        r.expect(len(entry.lines) >= 2 and total == 0 and all(line.amount for line in entry.lines),
                 f"{entry.entry_id} ({entry.kind}, {entry.order_id or 'no order'}): {len(entry.lines)} lines summing to {total}")
        for line in entry.lines:
            balances[(line.account, entry.currency)] += line.amount
            if line.account == ESCROW_HOLDING:
                r.expect(entry.order_id is not None, f"{entry.entry_id} ({entry.kind}) moves escrow_holding for no order")
                holding[entry.order_id or ""] += line.amount
    for currency in sorted({currency for _, currency in balances}):
        total = sum(amount for (_, c), amount in balances.items() if c == currency)
        r.expect(total == 0, f"the {currency} ledger sums to {total}")
    for (account, currency), balance in sorted(balances.items()):
        if account.startswith(LIABILITIES):
            r.expect(balance <= 0, f"{account} ends in debit: {balance} {currency}")
        elif account.startswith(ASSETS):
            r.expect(balance >= 0, f"{account} ends in credit: {balance} {currency}")
        elif account == COMPENSATION_POOL:
            r.expect(balance == 0, f"{account} ends at {balance} {currency}, not zero")
    held = {x.order_id: x.amount.amount - _fen(s.of(x.order_id, e.HoldReleased)) - _fen(s.of(x.order_id, e.HoldRefunded))
            for x in s.all(e.HoldCreated)}
    for order_id in sorted(held.keys() | holding.keys()):
        left = -holding[order_id]
        r.expect(left >= 0, f"{order_id}: escrow_holding ends in debit for the order: {-left}")
        r.expect(left == held.get(order_id, 0),
                 f"{order_id}: escrow_holding keeps {left} for the order, the hold events leave {held.get(order_id, 0)}")


# -- refunds and compensations -------------------------------------------------------------------


def _refunds(s: Stream, r: CheckResult) -> None:
    ordered = s.once(r, d.RefundOrdered, "refund_id")
    executed = s.once(r, e.CaseRefundExecuted, "refund_id")
    for x in s.all(e.HoldRefunded):
        r.checked += 1
        party = x.reason.removeprefix(CANCELLED_BY)
        if x.reason.startswith(CANCELLED_BY):
            asked = any(q.party == party and q.amount == x.amount for q in s.of(x.order_id, p.RefundRequested))
            told = any(c.party == party and c.refunded == x.amount for c in s.of(x.order_id, p.OrderCancelled))
            r.expect(asked or told, f"{x.order_id}: {x.amount.amount} refunded {x.reason}, but that party never cancelled it")
        else:
            r.expect(x.reason == "case_refund", f"{x.order_id}: {x.amount.amount} refunded for an unknown reason {x.reason}")
    for o in s.orders:
        refunds = s.cancellation_refunds(o)
        r.expect(len(refunds) <= 1, f"{o}: {len(refunds)} cancellation refunds")
        from_hold = sorted(x.amount.amount for x in s.of(o, e.HoldRefunded) if x.reason == "case_refund")
        taken = sorted(x.from_hold for x in s.of(o, e.CaseRefundExecuted) if x.from_hold)
        r.expect(from_hold == taken, f"{o}: the hold refunded {from_hold} for cases, the executed case refunds took {taken}")
        payment = _first(s.of(o, p.PaymentSucceeded))
        given = (_fen(refunds) + sum(x.from_hold + x.from_merchant for x in s.of(o, e.CaseRefundExecuted))
                 + _fen(s.of(o, e.CompensationPaid)))
        r.expect(payment is None or given <= payment.amount.amount,
                 f"{o}: {given} given back, {payment.amount.amount if payment else 0} paid")
    for refund_id, x in executed.items():
        r.checked += 1
        order = ordered.get(refund_id)
        r.expect(order is not None and (order.case_id, order.order_id, order.amount) == (x.case_id, x.order_id, x.amount),
                 f"{refund_id}: executed without a refund order of case {x.case_id}, order {x.order_id} and {x.amount.amount}")
        r.expect(min(x.from_hold, x.from_merchant, x.shortfall) >= 0 and x.from_hold + x.from_merchant + x.shortfall == x.amount.amount,
                 f"{refund_id}: from the hold {x.from_hold}, the merchant {x.from_merchant} and short {x.shortfall} "
                 f"do not make {x.amount.amount}")
    _refund_orders(s, ordered, r)
    _late_and_paid_out(s, executed, r)


def _refund_orders(s: Stream, ordered: dict[str, d.RefundOrdered], r: CheckResult) -> None:
    opened = s.once(r, d.CaseOpened, "case_id")
    outcomes = Counter((x.case_id, "agreed", x.amount.amount) for x in s.all(d.NegotiationAgreed))
    outcomes.update((x.case_id, "ruled", x.amount.amount) for x in s.all(d.CaseRuled) if x.decision is not d.RulingDecision.REJECT)
    uses = Counter((x.case_id, x.basis, x.amount.amount) for x in ordered.values())
    per_case: Counter[str] = Counter()
    for refund_id, x in ordered.items():
        r.checked += 1
        case = opened.get(x.case_id)
        r.expect(case is not None and case.order_id == x.order_id, f"{refund_id}: for case {x.case_id}, never opened on {x.order_id}")
        key = (x.case_id, x.basis, x.amount.amount)
        r.expect(uses[key] <= outcomes[key], f"{refund_id}: {x.amount.amount} ordered as {x.basis}, but case {x.case_id} "
                                             f"came to that {outcomes[key]} times")
        per_case[x.case_id] += x.amount.amount
    for case_id, total in sorted(per_case.items()):
        paid = opened[case_id].paid.amount if case_id in opened else 0
        r.expect(total <= paid, f"{case_id}: {total} ordered, {paid} paid")


def _late_and_paid_out(s: Stream, executed: dict[str, e.CaseRefundExecuted], r: CheckResult) -> None:
    captured = s.once(r, p.PaymentCapturedLate, "intent_id")
    booked = s.once(r, e.LateCaptureBooked, "intent_id")
    for intent_id, x in booked.items():
        r.checked += 1
        late = captured.get(intent_id)
        r.expect(late is not None and (late.order_id, late.amount) == (x.order_id, x.amount),
                 f"{intent_id}: late capture of {x.amount.amount} booked, which payments never recorded")
    owed = {x.refund_id: (x.order_id, x.amount.amount) for x in booked.values()}
    owed |= {x.provider_refund_id: (x.order_id, x.from_hold + x.from_merchant) for x in executed.values() if x.provider_refund_id}
    owed |= {x.provider_refund_id: (x.order_id, x.amount.amount) for x in s.all(e.CompensationPaid)}
    for refund_id, x in s.once(r, e.RefundPaidOut, "refund_id").items():
        r.checked += 1
        due = owed.get(refund_id)
        cancellation = any(c.amount == x.amount for c in s.cancellation_refunds(x.order_id))
        r.expect(due == (x.order_id, x.amount.amount) if due else cancellation,
                 f"{refund_id}: {x.amount.amount} paid out to {x.buyer_id} on {x.order_id}, which no refund owed")


def _compensations(s: Stream, entries: dict[str, e.LedgerEntryPosted], r: CheckResult) -> None:
    granted = s.once(r, d.CompensationGranted, "compensation_id")
    claims = s.once(r, insurer.ClaimFiled, "claim_id")
    executed = {x.refund_id: x for x in s.all(e.CaseRefundExecuted)}
    paid = s.once(r, e.CompensationPaid, "compensation_id")
    for compensation_id, x in paid.items():
        r.checked += 1
        grant = granted.get(compensation_id)
        if grant is None:
            r.breaches.append(f"{compensation_id}: {x.amount.amount} paid to {x.buyer_id}, never granted")
            continue
        parties = (x.case_id, x.order_id, x.buyer_id, x.merchant_id, x.amount)
        r.expect((grant.case_id, grant.order_id, grant.buyer_id, grant.merchant_id, grant.amount) == parties,
                 f"{compensation_id}: paid otherwise than granted")
        claim = claims.get(grant.claim_id)
        r.expect(claim is not None and (claim.case_id, claim.order_id, claim.merchant_id, claim.amount)
                 == (x.case_id, x.order_id, x.merchant_id, x.amount), f"{compensation_id}: no claim {grant.claim_id} filed for it")
        short = executed.get(grant.refund_id)
        r.expect(short is not None and short.case_id == x.case_id and short.shortfall >= x.amount.amount,
                 f"{compensation_id}: granted for refund {grant.refund_id}, not executed short of {x.amount.amount}")
    owed: Counter[tuple[str, str]] = Counter()
    pool: Counter[str] = Counter()
    for x in paid.values():
        owed[(x.order_id, x.merchant_id)] += x.amount.amount
        pool[x.order_id] -= x.amount.amount
    booked: Counter[tuple[str, str]] = Counter()
    prefix = merchant_recovery_receivable("")
    for entry in entries.values():
        for line in entry.lines:
            if entry.kind == "recovery_booked" and line.account.startswith(prefix):
                booked[(entry.order_id or "", line.account.removeprefix(prefix))] += line.amount
            if entry.kind == "compensation_paid" and line.account == COMPENSATION_POOL:
                pool[entry.order_id or ""] += line.amount
    for order_id, merchant_id in sorted(owed.keys() | booked.keys()):
        r.expect(owed[(order_id, merchant_id)] == booked[(order_id, merchant_id)],
                 f"{order_id}: compensation {owed[(order_id, merchant_id)]} paid for {merchant_id}, "
                 f"{booked[(order_id, merchant_id)]} booked as owed by it")
    for order_id, gap in sorted(pool.items()):
        r.expect(gap == 0, f"{order_id}: the compensation_paid entries and the compensation paid differ by {gap}")
    _recoveries_and_claims(s, paid, granted, r)


def _recoveries_and_claims(s: Stream, paid: dict[str, e.CompensationPaid], granted: dict[str, d.CompensationGranted],
                           r: CheckResult) -> None:
    compensated: Counter[str] = Counter()
    for x in paid.values():
        compensated[x.merchant_id] += x.amount.amount
    repaid: Counter[str] = Counter()
    for repayment in s.all(e.RecoveryRepaid):
        repaid[repayment.merchant_id] += repayment.amount.amount
    for merchant_id, total in sorted(repaid.items()):
        r.expect(total <= compensated[merchant_id], f"{merchant_id}: repaid {total}, owed at most {compensated[merchant_id]}")
    by_claim = {x.claim_id: x for x in granted.values()}
    decided = s.once(r, d.ClaimDecisionRecorded, "claim_id")
    for claim_id, decision in decided.items():
        r.checked += 1
        grant = by_claim.get(claim_id)
        r.expect(grant is not None and decision.claimed == grant.amount and decision.approved.amount <= decision.claimed.amount,
                 f"{claim_id}: decided {decision.approved.amount} of {decision.claimed.amount}, not a granted claim's amount")
    for claim_id, payment in s.once(r, d.ClaimPaymentRecorded, "claim_id").items():
        r.checked += 1
        approved = decided[claim_id].approved.amount if claim_id in decided else 0
        r.expect(payment.amount.amount <= approved, f"{claim_id}: the insurer paid {payment.amount.amount}, {approved} approved")


# -- notifications -------------------------------------------------------------------------------


def _notifications(s: Stream, r: CheckResult) -> None:
    sent = s.once(r, notifications.NotificationSent, "notification_id")
    failed = {x.notification_id for x in s.all(notifications.NotificationFailed)}
    told: dict[tuple[str, str, str, str], str] = {}
    for notification_id, x in sent.items():
        r.checked += 1
        first = told.setdefault((x.source_event_id, x.recipient, x.recipient_id, x.channel), notification_id)
        r.expect(first == notification_id, f"{notification_id} and {first} both told {x.recipient} {x.recipient_id} "
                                           f"by {x.channel} about {x.source_type} {x.source_event_id}")
        r.expect(notification_id not in failed, f"{notification_id}: both sent and failed")
    for x in [*sent.values(), *s.all(notifications.NotificationFailed)]:
        source = s.by_id.get(x.source_event_id)
        r.expect(source is not None and source.type == x.source_type,
                 f"{x.notification_id}: tells about {x.source_type} {x.source_event_id}, which is not on the topics")


# -- reading and rendering -----------------------------------------------------------------------


def _decode(value: bytes | None) -> Any:
    try:
        return json.loads(value) if value is not None else None
    except ValueError:
        return value  # counted as ignored


async def read_events(bootstrap: str, idle_timeout: float = 2.0, quiet: float = 3.0) -> list[Any]:
    """Every record of the audited topics (all partitions) from the beginning: up to the end offsets they had
    when the read started, then on until nothing more comes (the platform is meant to be quiet).
    Raises TimeoutError if nothing arrives for ``idle_timeout`` seconds before those end offsets."""
    # A fetch Tansu answers with an out-of-range offset resets the position: to the beginning, never past the records.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                **aiokafka_options())
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, n) for topic in TOPICS for n in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        messages: list[Any] = []
        last_record = time.monotonic()
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=200)
            for tp, records in batch.items():
                messages += [_decode(record.value) for record in records]
                last_record = time.monotonic() if records else last_record
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
            if pending and time.monotonic() - last_record > idle_timeout:
                raise TimeoutError(f"nothing read for {idle_timeout}s before the end of {sorted(map(str, pending))}")
        # Tansu answers the end offset with the last record batch's first offset + 1, so the rest of that
        # batch lies beyond it: read on until nothing more has come for ``quiet`` seconds (one empty
        # fetch is not enough: a slow answer for a big batch can come after a poll's timeout).
        last_record = time.monotonic()
        while time.monotonic() - last_record < quiet:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                messages += [_decode(record.value) for record in records]
                last_record = time.monotonic() if records else last_record
        return messages
    finally:
        await consumer.stop()


async def audit(bootstrap: str) -> AuditReport:
    return check(await read_events(bootstrap))


def render(report: AuditReport, limit: int = 20) -> list[RenderableType]:
    """For the CLI: the checks, the counts, then the first ``limit`` breaches of each check."""
    checks = Table(title="Platform audit")
    checks.add_column("check")
    checks.add_column("checked", justify="right")
    checks.add_column("breaches", justify="right")
    for name, result in report.checks.items():
        checks.add_row(name, str(result.checked), Text(str(len(result.breaches)), style="red" if result.breaches else "green"))
    counts = Table(title="What the events hold")
    counts.add_column("")
    counts.add_column("count", justify="right")
    for state, count in report.orders_by_state.items():
        counts.add_row(f"orders {state}" + (" (live)" if state in LIVE_STATES else ""), str(count))
    for name, count in [*report.counts.items(), ("redelivered", report.redelivered), ("ignored", report.ignored)]:
        counts.add_row(name.replace("_", " "), str(count))
    out: list[RenderableType] = [checks, counts]
    for name, result in report.checks.items():
        out += [Text(f"{name}: {breach}", style="red") for breach in result.breaches[:limit]]
        if len(result.breaches) > limit:
            out.append(Text(f"{name}: … and {len(result.breaches) - limit} more", style="red"))
    out.append(Text(f"{report.breach_count} breaches" if report.breach_count else "no breach",
                    style="bold red" if report.breach_count else "bold green"))
    return out
