"""`danbao audit`: the platform checked as a whole, from the events its services published.

It reads ``danbao.{payments,escrow,disputes,notifications,onboarding}.events``,
``danbao.insurer.requests`` (where disputes files its insurer claims) and ``danbao.bank.requests``
(the payout transfers payments sends), every partition, from the beginning until nothing more
comes, and checks what they say together.
Run it once the platform is quiet: an event still in an outbox is not seen. No check depends on
the order the events were read in (topics interleave arbitrarily), only on the set of distinct
events, so the same events in any order give the same report.

Delivery is at least once: a relay that crashed between publishing and marking republishes with
the same ``event_id``. Events are deduplicated by ``event_id``; an identical copy is counted as
*redelivered*, never a breach. A message that is not a JSON object with an ``event_id`` and a
``type``, or whose type or version this code does not know, is *ignored* and counted.

Checks (each counts what it checked and lists its breaches), one module each, their rules in
the module's docstring: delivery, orders, holds, ledger, refunds, compensations, releases and deadlines (``timing``),
notifications, payouts. A new check is a function ``check(stream, result)`` in its own module, named in ``CHECKS``.


What the events cannot decide, so nothing here claims it: whether the provider paid a refund or
the bank a payout (their callbacks are not read; ``refund.paid_out`` is escrow's record of it);
fees against the fee schedule (the rate depends on the merchant's monthly volume); the
compensation caps (settings); anything that hangs on the order of events across topics or
partitions (e.g. that nothing was released while frozen; ``timing`` compares the times the services stamped
on their events instead). A guaranteed payment escrow has not
booked, a compensation granted and not paid, a claim not decided: live, not breaches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ops.audit import compensations, ledger, notifications, orders, payouts, refunds, timing
from ops.audit.core import TOPICS, AuditReport, CheckResult, Stream, distinct
from ops.audit.reading import read_events
from ops.audit.rendering import render
from shared.contracts import bank
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import insurer
from shared.contracts import notifications as n
from shared.envelope import Payload

__all__ = ["CHECKS", "TOPICS", "AuditReport", "CheckResult", "Stream", "audit", "check", "read_events", "render"]

# Every check after delivery (which ``distinct`` runs while it reads), in the order the report lists them.
CHECKS: dict[str, Callable[[Stream, CheckResult], None]] = {
    "orders": orders.check,
    "holds": ledger.check_holds,
    "ledger": ledger.check_ledger,
    "refunds": refunds.check,
    "compensations": compensations.check,
    "releases": timing.check_releases,
    "deadlines": timing.check_deadlines,
    "notifications": notifications.check,
    "payouts": payouts.check,
}


def check(messages: Iterable[Any]) -> AuditReport:
    """Check decoded envelopes (as published on the event topics, in any order, redeliveries included)."""
    report = AuditReport()
    stream = distinct(messages, report)
    for name, run in CHECKS.items():
        run(stream, report.checks.setdefault(name, CheckResult()))
    report.orders_by_state = orders.states(stream)
    report.counts = _counts(stream)
    return report


def _counts(s: Stream) -> dict[str, int]:
    def count(kind: type[Payload]) -> int:
        return len(s.all(kind))

    return {"events": len(s.by_id), "holds": count(e.HoldCreated), "ledger_entries": len(s.entries),
            "refunds_cancellation": sum(len(s.cancellation_refunds(o)) for o in s.orders),
            "refunds_case": count(e.CaseRefundExecuted), "late_captures": count(e.LateCaptureBooked),
            "refunds_paid_out": count(e.RefundPaidOut), "cases": count(d.CaseOpened),
            "cases_open": len({x.case_id for x in s.all(d.CaseOpened)} - {x.case_id for x in s.all(d.CaseClosed)}),
            "compensations": count(e.CompensationPaid), "claims": count(insurer.ClaimFiled),
            "notifications_sent": count(n.NotificationSent),
            "notifications_failed": count(n.NotificationFailed), "payout_transfers": count(bank.TransferRequested)}


async def audit(bootstrap: str) -> AuditReport:
    return check(await read_events(bootstrap))
