"""What must happen when: money reaches the merchant only after the goods left, and a dispute case always
waits for a deadline. Both compare the times the services stamped on their events (``occurred_at``, on
their clocks), never the order the events were read in.

releases
    An ``escrow.hold.released`` is ``buyer_confirmed`` or ``auto_confirmed``, and its hold's
    ``escrow.shipment.recorded`` occurred no later than the release: nothing is released to the
    merchant before shipment (the buyer's confirmation of an unshipped order is refused, and
    auto-confirm is only ever set by a shipment). An ``auto_confirmed`` release is not earlier than the
    auto-confirm time last announced for the hold (its shipment's, or a closed case's
    ``escrow.hold.unfrozen``, whichever occurred last).
deadlines
    Every event that puts a case into a waiting state announces that state's deadline, no earlier than
    the event (``shared.contracts.disputes.DEADLINES``: ``respond_by``, ``answer_by``, ``escalate_by``,
    ``rule_by``, ``default_ruling_at``, ``return_by``, ``confirm_by``, ``day3_at``; a merchant's answer
    enters one only as a counter-offer, a buyer's answer only as a refusal). Every case opened and not
    closed waits for a running deadline: its latest such event (by ``occurred_at``; within one instant,
    the later step of the lifecycle) announced one, and it has not passed by more than an hour before the
    last event the platform published (a deadline that passed long ago with the case still waiting is a
    timer that did not fire).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ops.audit.core import CheckResult, Stream, type_of
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.envelope import Envelope

RELEASE_REASONS = ("buyer_confirmed", "auto_confirmed")
STALLED_AFTER = timedelta(hours=1)
# The steps of a case's life in order, to tell apart two announcing events of one instant (a case the platform
# opens for a cancellation is opened, agreed and verified in one step).
LIFECYCLE = (d.CaseOpened, d.MerchantResponded, d.CounterOfferAnswered, d.NegotiationFailed, d.CaseEscalated,
             d.ArbitrationOverdue, d.ReturnRequested, d.ReturnShipped, d.VerificationStarted, d.CaseReopened)
RANK = {type_of(kind): n for n, kind in enumerate(LIFECYCLE)}


def _envelopes(s: Stream, *kinds: type[Any]) -> list[Envelope]:
    types = {type_of(kind) for kind in kinds}
    return [event for event in s.by_id.values() if event.type in types]


def check_releases(s: Stream, r: CheckResult) -> None:
    shipped: dict[str, list[Envelope]] = {}
    announced: dict[str, list[tuple[datetime, datetime]]] = {}  # hold -> (announced at, auto-confirm at)
    for event in _envelopes(s, e.ShipmentRecorded, e.HoldUnfrozen):
        data = event.data
        if isinstance(data, e.ShipmentRecorded):
            shipped.setdefault(data.hold_id, []).append(event)
        if data.auto_confirm_at is not None:
            announced.setdefault(data.hold_id, []).append((event.occurred_at, data.auto_confirm_at))
    for event in _envelopes(s, e.HoldReleased):
        released: e.HoldReleased = event.data
        r.checked += 1
        r.expect(released.reason in RELEASE_REASONS,
                 f"{released.order_id}: released to the merchant for an unknown reason {released.reason}")
        shipments = shipped.get(released.hold_id, [])
        r.expect(any(x.occurred_at <= event.occurred_at for x in shipments),
                 f"{released.order_id}: released to the merchant ({released.reason}) before any shipment was recorded")
        if released.reason == "auto_confirmed" and announced.get(released.hold_id):
            _, due = max(announced[released.hold_id], key=lambda pair: pair[0])
            r.expect(event.occurred_at >= due, f"{released.order_id}: auto-confirmed at {event.occurred_at.isoformat()}, "
                                               f"before its auto-confirm time {due.isoformat()}")


def _enters(data: Any) -> bool:
    """Whether the event puts its case into a waiting state (and so must announce that state's deadline)."""
    if isinstance(data, d.MerchantResponded):
        return data.response is d.MerchantResponse.COUNTER_OFFER
    if isinstance(data, d.CounterOfferAnswered):
        return not data.accepted
    return True


def check_deadlines(s: Stream, r: CheckResult) -> None:
    closed = {x.case_id for x in s.all(d.CaseClosed)}
    latest: dict[str, tuple[tuple[datetime, int], datetime | None, str]] = {}
    for event in _envelopes(s, *LIFECYCLE):
        if not _enters(event.data):
            continue  # a merchant's accept or reject, an accepted counter-offer: the next event enters the state
        r.checked += 1
        field = d.DEADLINES[event.type]
        due = getattr(event.data, field)
        r.expect(due is None or due >= event.occurred_at, f"{event.data.case_id}: {event.type} announced {field} "
                                                          f"{due.isoformat() if due else ''}, before it occurred "
                                                          f"({event.occurred_at.isoformat()})")
        key = (event.occurred_at, RANK[event.type])
        if event.data.case_id not in latest or key > latest[event.data.case_id][0]:
            latest[event.data.case_id] = (key, due, event.type)
    last = max((event.occurred_at for event in s.by_id.values()), default=None)
    for opened in s.all(d.CaseOpened):
        if opened.case_id in closed:
            continue
        r.checked += 1
        found = latest.get(opened.case_id)
        r.expect(found is not None, f"{opened.case_id}: open, and no event put it into a state it waits in")
        if found is None or last is None:
            continue
        (_, _), due, kind = found
        if due is None:
            r.breaches.append(f"{opened.case_id}: open, waiting since {kind}, which announced no deadline")
            continue
        r.expect(due + STALLED_AFTER >= last, f"{opened.case_id}: still waiting after its deadline {due.isoformat()} "
                                              f"({kind}) passed; the platform has moved on to {last.isoformat()}")
