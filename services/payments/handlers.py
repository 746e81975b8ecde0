"""Payments use cases: load, decide with the domain, save; events go to the outbox."""

from __future__ import annotations

from services.payments import domain
from services.payments.config import PaymentsSettings
from services.payments.store import load_order, save_order
from shared.contracts import payments, psp
from shared.envelope import Envelope, Payload
from shared.unit_of_work import Undeliverable, UnitOfWork


class PaymentsHandlers:
    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings

    async def create_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.CreateOrder = message.data
        row, order = await load_order(uow.session, command.order_id)
        decision = domain.create_order(order, command, message.actor)
        self._save(uow, row, decision, command.order_id)

    async def pay_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.PayOrder = message.data
        row, order = await load_order(uow.session, command.order_id)
        decision = domain.pay(order, command, message.actor, self.settings.pay_base_url)
        self._save(uow, row, decision, command.order_id)

    async def charge_completed(self, uow: UnitOfWork, message: Envelope) -> None:
        callback: psp.ChargeCallback = message.data
        if not callback.signature_valid(self.settings.psp_callback_secret):
            raise Undeliverable("bad_signature", f"callback for intent {callback.intent_id} is not signed by the provider")
        row, order = await load_order(uow.session, callback.order_id)
        decision = domain.settle_charge(order, callback, self.settings.fee_rate_bp)
        self._save(uow, row, decision, callback.order_id)

    def _save(self, uow: UnitOfWork, row, decision: domain.Decision, order_id: str) -> None:  # type: ignore[no-untyped-def]
        if not decision.events:
            return
        assert decision.order is not None
        save_order(uow.session, row, decision.order, uow.now)
        for event in decision.events:
            uow.emit(_topic_of(event), order_id, event)


def _topic_of(event: Payload):  # type: ignore[no-untyped-def]
    return psp.REQUESTS if isinstance(event, psp.ChargeRequested) else payments.EVENTS
