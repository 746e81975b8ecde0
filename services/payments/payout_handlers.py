"""Payments' handlers for payouts (keyed by merchant id, so one merchant's payouts are handled in order)."""

from __future__ import annotations

from dataclasses import replace

from services.payments import payouts
from services.payments.handler_base import HandlerBase
from services.payments.risk_desk import blocks
from services.payments.store import load_payout, merchant_payouts, save_payout
from shared.contracts import bank, escrow, payments
from shared.contracts.risk import RiskSubject
from shared.envelope import Envelope
from shared.timers import DurableTimer
from shared.unit_of_work import Undeliverable, UnitOfWork


class PayoutHandlers(HandlerBase):
    async def request_payout(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.RequestPayout = message.data
        payout = await load_payout(uow.session, command.payout_id)
        merchant = await merchant_payouts(uow.session, command.merchant_id)
        decision = payouts.request(payout, command, message.actor, merchant)
        verdict = await self.risk.payout(uow, command.merchant_id, command.amount.amount) if decision.events else None
        if verdict is None:
            await self._save_payout(uow, decision)
            return
        flag_args = dict(payout_id=command.payout_id)
        if blocks(verdict):  # refused: nothing requested, nothing reserved
            await self.risk.flag(uow, verdict, RiskSubject.PAYOUT, command.payout_id, command.merchant_id, **flag_args)
            return
        assert decision.payout is not None
        held = replace(decision.payout, review=(await self.risk.flag(
            uow, verdict, RiskSubject.PAYOUT, command.payout_id, command.merchant_id, **flag_args)).review_id)
        await self._save_payout(uow, payouts.PayoutDecision(held, decision.events))  # escrow reserves it meanwhile

    async def payout_reserved(self, uow: UnitOfWork, message: Envelope) -> None:
        event: escrow.PayoutReserved = message.data
        payout = await load_payout(uow.session, event.payout_id)
        if payout is None or payout.status is not payouts.PayoutStatus.REQUESTED:
            return
        if payout.review == payouts.REJECTED:  # an operator rejected it before the money was reserved: it goes back
            await self._save_payout(uow, payouts.unschedulable(payout, "risk_rejected"))
            return
        if payout.review is not None:  # held for review: reserved, scheduled once an operator releases it
            await save_payout(uow.session, replace(payout, reserved=True), uow.now)
            return
        await self._schedule_payout(uow, payout)


    async def payout_declined(self, uow: UnitOfWork, message: Envelope) -> None:
        event: escrow.PayoutDeclined = message.data
        payout = await load_payout(uow.session, event.payout_id)
        await self._save_payout(uow, payouts.declined(payout, event.reason))

    async def payout_transfer_due(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        payout = await load_payout(uow.session, timer.aggregate_id)
        merchant = await merchant_payouts(uow.session, payout.merchant_id) if payout else payouts.MerchantPayouts(None)
        await self._save_payout(uow, payouts.send(payout, merchant))

    async def transfer_completed(self, uow: UnitOfWork, message: Envelope) -> None:
        outcome: bank.TransferCompleted = message.data
        if not outcome.signature_valid(self.settings.bank_callback_secret):
            raise Undeliverable("bad_signature", f"transfer outcome for {outcome.payout_id} is not signed by the bank")
        payout = await load_payout(uow.session, outcome.payout_id)
        await self._save_payout(uow, payouts.completed(payout, outcome))
