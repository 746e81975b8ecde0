"""Escrow use cases: load, decide with the domain, save + ledger + outbox."""

from __future__ import annotations

from services.escrow import domain, store
from shared import timers
from shared.contracts import escrow, payments
from shared.envelope import Envelope
from shared.timers import DurableTimer
from shared.unit_of_work import UnitOfWork

AUTO_CONFIRM = "auto-confirm"


async def payment_succeeded(uow: UnitOfWork, message: Envelope) -> None:
    payment: payments.PaymentSucceeded = message.data
    booked = domain.capture(payment, await store.order_captured(uow.session, payment.order_id))
    if booked is None:
        return
    if booked.hold is not None:
        store.save_hold(uow.session, None, booked.hold, uow.now)
    _post(uow, booked.entry, booked.events, payment.order_id)


async def record_shipment(uow: UnitOfWork, message: Envelope) -> None:
    command: escrow.RecordShipment = message.data
    row, hold = await store.load_hold(uow.session, command.order_id)
    decision = domain.record_shipment(hold, command, message.actor, uow.now)
    store.save_hold(uow.session, row, decision.hold, uow.now)
    assert decision.hold.auto_confirm_at is not None
    await timers.schedule(uow, AUTO_CONFIRM, decision.hold.order_id, decision.hold.auto_confirm_at)
    _post(uow, None, decision.events, command.order_id)


async def confirm_receipt(uow: UnitOfWork, message: Envelope) -> None:
    command: escrow.ConfirmReceipt = message.data
    row, hold = await store.load_hold(uow.session, command.order_id)
    decision = domain.confirm_receipt(hold, command, message.actor)
    await _settle(uow, row, decision)


async def auto_confirm_due(uow: UnitOfWork, timer: DurableTimer) -> None:
    row, hold = await store.load_hold(uow.session, timer.aggregate_id)
    decision = domain.auto_confirm(hold, uow.now)
    await _settle(uow, row, decision)


async def _settle(uow: UnitOfWork, row: store.HoldRow | None, decision: domain.HoldDecision) -> None:
    store.save_hold(uow.session, row, decision.hold, uow.now)
    await timers.cancel(uow, AUTO_CONFIRM, decision.hold.order_id)
    _post(uow, decision.entry, decision.events, decision.hold.order_id)


def _post(uow: UnitOfWork, journal: domain.JournalEntry | None, events: list, order_id: str) -> None:  # type: ignore[type-arg]
    for event in events:
        uow.emit(escrow.EVENTS, order_id, event)
    if journal is not None:
        entry_id = store.post(uow.session, journal, uow.now)
        uow.emit(escrow.EVENTS, order_id, escrow.LedgerEntryPosted(
            entry_id=entry_id, order_id=order_id, kind=journal.kind, currency=journal.currency, lines=list(journal.lines)))
