"""Escrow use cases."""

from __future__ import annotations

from services.escrow import domain, store
from shared.contracts import escrow, payments
from shared.envelope import Envelope
from shared.unit_of_work import UnitOfWork


async def payment_succeeded(uow: UnitOfWork, message: Envelope) -> None:
    payment: payments.PaymentSucceeded = message.data
    booked = domain.capture(payment, await store.order_captured(uow.session, payment.order_id))
    if booked is None:
        return
    if booked.hold is not None:
        store.add_hold(uow.session, booked.hold, uow.now)
    entry_id = store.post(uow.session, booked.entry, uow.now)
    for event in booked.events:
        uow.emit(escrow.EVENTS, payment.order_id, event)
    uow.emit(escrow.EVENTS, payment.order_id, escrow.LedgerEntryPosted(
        entry_id=entry_id, order_id=payment.order_id, kind=booked.entry.kind,
        currency=booked.entry.currency, lines=list(booked.entry.lines),
    ))
