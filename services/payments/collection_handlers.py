"""Payments' handlers for collection codes: a merchant issues and revokes them; a customer redeems one."""

from __future__ import annotations

from datetime import timedelta

from services.payments import collection, domain
from services.payments.collection_store import load_code, save_code
from services.payments.handler_base import UNPAID_EXPIRY, HandlerBase
from services.payments.risk_desk import blocks
from services.payments.store import buyer_restricted_until, load_order, merchant_facts
from shared import timers
from shared.contracts import collection as collection_contracts
from shared.contracts import payments
from shared.envelope import Envelope
from shared.unit_of_work import UnitOfWork


class CollectionHandlers(HandlerBase):
    async def issue_code(self, uow: UnitOfWork, message: Envelope) -> None:
        command: collection_contracts.IssueCollectionCode = message.data
        code = await load_code(uow.session, command.code_id)
        merchant = await merchant_facts(uow.ws, command.merchant_id)
        lifetime = (timedelta(minutes=self.settings.payment_token_minutes) if command.kind is collection_contracts.CollectionKind.ORDER
                    else timedelta(days=self.settings.shop_code_days))
        decision = collection.issue(code, command, message.actor, merchant, self.settings.guarantee_allowed(merchant.industry),
                                    lifetime, self.tokens, uow.now)
        await self._save_code(uow, decision)

    async def revoke_code(self, uow: UnitOfWork, message: Envelope) -> None:
        command: collection_contracts.RevokeCollectionCode = message.data
        code = await load_code(uow.session, command.code_id)
        await self._save_code(uow, collection.revoke(code, command, message.actor, uow.now))

    async def redeem_code(self, uow: UnitOfWork, message: Envelope) -> None:
        command: collection_contracts.RedeemCollectionCode = message.data
        claims = collection.verify(self.tokens, command, uow.now)
        code = await load_code(uow.session, claims.code_id)
        merchant = await merchant_facts(uow.ws, claims.merchant_id)
        order_id = collection.order_id_of(code, command) if code is not None else None
        existing = await load_order(uow.ws, order_id) if order_id else None
        restricted = await buyer_restricted_until(uow.ws, message.actor.id, uow.now)
        redemption = collection.redeem(code, claims, command, message.actor, merchant, existing, restricted, uow.now)
        if redemption is None:
            return
        order = redemption.order
        verdict = await self.risk.payment(uow, order.buyer_id, order.merchant_id, redemption.device_id, order.amount.amount)
        if blocks(verdict):
            assert verdict is not None
            await self._hold(uow, order, redemption.code.channel, verdict, created=False)
            return  # nothing created: the code still works for someone else
        await save_code(uow.session, redemption.code, uow.now)
        await timers.schedule(uow, UNPAID_EXPIRY, order.order_id, uow.now + timedelta(minutes=self.settings.unpaid_order_minutes))
        if verdict is not None:
            await self._hold(uow, order, redemption.code.channel, verdict, created=True, events=redemption.events)
            return
        decision = domain.pay(order, redemption.pay, message.actor, uow.now, self.settings.provider_wait)
        await self._charge(uow, domain.Decision(decision.order, [*redemption.events, *decision.events]))

    async def _save_code(self, uow: UnitOfWork, decision: collection.CodeDecision) -> None:
        if not decision.events:
            return
        assert decision.code is not None
        await save_code(uow.session, decision.code, uow.now)
        for event in decision.events:
            uow.emit(payments.EVENTS, decision.code.code_id, event)
