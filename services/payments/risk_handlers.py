"""Payments' handlers for risk reviews: an operator's decision, and the money reaching merchants' balances that
the payout rule measures."""

from __future__ import annotations

from datetime import timedelta

from services.payments import domain, payouts
from services.payments.handler_base import UNPAID_EXPIRY, HandlerBase
from services.payments.risk_store import close_review, load_review
from services.payments.store import load_order, load_payout, save_payout
from shared import timers
from shared.contracts import escrow, payments
from shared.contracts import risk as risk_contracts
from shared.envelope import Actor, ActorKind, Envelope
from shared.unit_of_work import Rejected, UnitOfWork


class RiskHandlers(HandlerBase):
    async def decide_review(self, uow: UnitOfWork, message: Envelope) -> None:
        command: risk_contracts.DecideRiskReview = message.data
        review = await load_review(uow.session, command.review_id)
        if review is None:
            raise Rejected("review_not_found", f"no risk review {command.review_id}", command.review_id)
        target = "released" if command.decision is risk_contracts.RiskDecision.RELEASE else "rejected"
        if review.status == target:
            return  # decided so before
        if review.status != "open":
            raise Rejected("review_closed", f"the review is {review.status}", command.review_id)
        if review.subject is risk_contracts.RiskSubject.PAYMENT:
            order = await load_order(uow.ws, review.subject_id)
            if command.decision is risk_contracts.RiskDecision.REJECT:
                await self._save(uow, domain.review_rejected(order), review.subject_id)
            elif (released := domain.review_released(order)) is not None:  # None: the buyer cancelled meanwhile
                assert released.method is not None
                pay = payments.PayOrder(order_id=released.order_id, method=released.method)
                await timers.schedule(uow, UNPAID_EXPIRY, released.order_id,
                                      uow.now + timedelta(minutes=self.settings.unpaid_order_minutes))
                await self._charge(uow, domain.pay(released, pay, Actor(kind=ActorKind.BUYER, id=released.buyer_id), uow.now,
                                                   self.settings.provider_wait))
        elif review.subject is risk_contracts.RiskSubject.PAYOUT:
            payout = await load_payout(uow.session, review.subject_id)
            if command.decision is risk_contracts.RiskDecision.RELEASE:
                if (released_payout := payouts.release_hold(payout)) is not None:
                    await save_payout(uow.session, released_payout, uow.now)
                    if released_payout.reserved:
                        await self._schedule_payout(uow, released_payout)
            else:
                marked, failed = payouts.reject_hold(payout)
                if marked is not None:
                    await save_payout(uow.session, marked, uow.now)
                await self._save_payout(uow, failed)
        await close_review(uow.session, review.review_id, target, message.actor.id, command.note, uow.now)
        if review.subject is risk_contracts.RiskSubject.CANCELLATION:
            await self._hold_payouts(uow, review.merchant_id)
        uow.emit(payments.EVENTS, review.subject_id, risk_contracts.RiskReviewDecided(
            review_id=review.review_id, subject=review.subject, subject_id=review.subject_id, merchant_id=review.merchant_id,
            buyer_id=review.buyer_id, decision=command.decision, by=message.actor.id, note=command.note, decided_at=uow.now))

    async def merchant_paid_in(self, uow: UnitOfWork, message: Envelope) -> None:
        """Escrow released a hold to the merchant or credited a direct payment: money reached its balance."""
        event: escrow.HoldReleased | escrow.MerchantCredited = message.data
        await self.risk.inflow(uow, event.merchant_id, event.net)
