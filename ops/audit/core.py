"""The audit's core: the distinct events of the audited topics, and the delivery check.

delivery
    One event id, one content: the same ``event_id`` with different content is a breach, and so
    is an event of a known type that does not match its contract.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.contracts import bank
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import insurer, notifications, onboarding
from shared.contracts import payments as p
from shared.contracts.catalog import UnsupportedVersion
from shared.envelope import Envelope, Payload

P = TypeVar("P", bound=Payload)

CONTRACTS = (p.EVENTS, e.EVENTS, d.EVENTS, notifications.EVENTS, onboarding.EVENTS, insurer.REQUESTS, bank.REQUESTS)
TOPICS = [contract.topic for contract in CONTRACTS]
_CONTRACT_OF = {type_: contract for contract in CONTRACTS for type_ in contract.payloads}
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
    checks: dict[str, CheckResult] = field(default_factory=dict)
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


def type_of(kind: type[Payload]) -> str:
    return kind.TYPE  # type: ignore[attr-defined, no-any-return]


def fen(items: Iterable[Any]) -> int:
    """The sum of the items' ``amount`` (Money)."""
    return sum(item.amount.amount for item in items)


def first(items: list[P]) -> P | None:
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
        return self._types.get(type_of(kind), [])

    def of(self, order_id: str | None, kind: type[P]) -> list[P]:
        found = self.orders.get(order_id or "")
        return found.get(type_of(kind), []) if found else []

    def once(self, result: CheckResult, kind: type[P], key: str) -> dict[str, P]:
        """``kind``'s events by their ``key`` field; a key two distinct events carry is a breach."""
        by_key: dict[str, P] = {}
        for item in self.all(kind):
            value = getattr(item, key)
            result.expect(value not in by_key, f"{value}: {type_of(kind)} published again under another event id")
            by_key.setdefault(value, item)
        return by_key

    def cancellation_refunds(self, order_id: str) -> list[e.HoldRefunded | e.DirectPaymentRefunded]:
        """What a cancellation refunded: from the hold, or, for a payment without the guarantee, from the merchant's
        balance and the fee (``escrow.direct_payment.refunded``)."""
        return [*(x for x in self.of(order_id, e.HoldRefunded) if x.reason.startswith(CANCELLED_BY)),
                *self.of(order_id, e.DirectPaymentRefunded)]

    @cached_property
    def entries(self) -> dict[str, e.LedgerEntryPosted]:
        """The ledger entries by id (the first content of an id; ``conflicting_entries`` lists the others)."""
        entries: dict[str, e.LedgerEntryPosted] = {}
        for entry in self.all(e.LedgerEntryPosted):
            entries.setdefault(entry.entry_id, entry)
        return entries

    @property
    def conflicting_entries(self) -> list[str]:
        return [x.entry_id for x in self.all(e.LedgerEntryPosted) if self.entries[x.entry_id] != x]


def distinct(messages: Iterable[Any], report: AuditReport) -> Stream:
    """The delivery check, and the distinct events it leaves."""
    delivery = report.checks.setdefault("delivery", CheckResult())
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
