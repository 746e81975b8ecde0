"""What payments' handlers share: the settings, the collection tokens, the risk desk, and saving an order's,
a payment's or a payout's decision with its events."""

from __future__ import annotations

from datetime import timedelta

from services.payments import domain, payouts
from services.payments.config import PaymentsSettings
from services.payments.risk import Verdict
from services.payments.risk_desk import RiskDesk, blocks
from services.payments.risk_store import open_reviews_of
from services.payments.store import hold_payouts, save_order, save_payout
from shared import timers
from shared.business_days import CalendarUnavailable, business_days_later
from shared.contracts import bank, payments, psp
from shared.contracts.risk import RiskSubject
from shared.envelope import Payload
from shared.unit_of_work import UnitOfWork

UNPAID_EXPIRY = "unpaid-expiry"
PROVIDER_TIMEOUT = "provider-timeout"
PAYOUT_TRANSFER = "payout-transfer"


class HandlerBase:
    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings
        self.tokens = settings.tokens()
        self.risk = RiskDesk(settings.risk(), settings.risk_raises(settings.risk_merchant_limits))
        self.policy = domain.CancellationPolicy(
            window=timedelta(hours=settings.cancel_window_hours), warn=settings.cancel_warn_count,
            restrict=settings.cancel_restrict_count, restrict_for=timedelta(hours=settings.cancel_restrict_hours))

    async def _hold(self, uow: UnitOfWork, order: domain.Order, method: payments.PaymentMethod, verdict: Verdict, *,
                    created: bool, events: list[Payload] | None = None) -> None:
        """A risk rule fired on the order's payment: refused (block), or held for an operator (review).
        ``created``: the order exists (or is created now, with ``events``)."""
        attempt = order.attempts + 1
        if blocks(verdict):
            await self.risk.flag(uow, verdict, RiskSubject.PAYMENT, order.order_id, order.merchant_id, buyer_id=order.buyer_id,
                                 order_id=order.order_id if created else None, attempt=attempt)
            return
        held = domain.hold_for_review(order, method)
        await save_order(uow.ws, held, uow.now)
        for event in events or []:
            uow.emit(payments.EVENTS, order.order_id, event)
        await self.risk.flag(uow, verdict, RiskSubject.PAYMENT, order.order_id, order.merchant_id, buyer_id=order.buyer_id,
                             order_id=order.order_id, attempt=attempt)

    async def _charge(self, uow: UnitOfWork, decision: domain.Decision) -> None:
        """Save a payment the provider is asked to charge, and wait for its answer."""
        assert decision.order is not None and decision.order.intent_id is not None
        await timers.schedule(uow, PROVIDER_TIMEOUT, decision.order.order_id, uow.now + self.settings.provider_wait,
                              {"intent_id": decision.order.intent_id})
        await self._save(uow, decision, decision.order.order_id)

    async def _save(self, uow: UnitOfWork, decision: domain.Decision, order_id: str) -> None:
        if not decision.events:
            return
        assert decision.order is not None
        await save_order(uow.ws, decision.order, uow.now)
        for event in decision.events:
            uow.emit(_topic_of(event), order_id, event)

    async def _save_payout(self, uow: UnitOfWork, decision: payouts.PayoutDecision) -> None:
        if not decision.events:
            return
        assert decision.payout is not None
        await save_payout(uow.session, decision.payout, uow.now)
        for event in decision.events:
            topic = bank.REQUESTS if isinstance(event, bank.TransferRequested) else payments.EVENTS
            uow.emit(topic, decision.payout.merchant_id, event)

    async def _schedule_payout(self, uow: UnitOfWork, payout: payouts.Payout) -> None:
        n = payouts.business_days_for(self.settings.payout_schedule, payout.account_kind, payout.amount.amount)
        try:
            transfer_at = business_days_later(uow.now, n)
        except CalendarUnavailable:  # logged and counted by the calendar; the merchant gets the money back
            await self._save_payout(uow, payouts.unschedulable(payout, "calendar_unavailable"))
            return
        decision = payouts.reserved(payout, transfer_at, n)
        if decision.events:
            await timers.schedule(uow, PAYOUT_TRANSFER, payout.payout_id, transfer_at)
        await self._save_payout(uow, decision)

    async def _hold_payouts(self, uow: UnitOfWork, merchant_id: str) -> None:
        """The merchant's payouts wait while a review of its cancellations is open."""
        open_reviews = await open_reviews_of(uow.session, merchant_id, RiskSubject.CANCELLATION)
        await hold_payouts(uow.session, merchant_id, f"risk review {', '.join(open_reviews)}" if open_reviews else None, uow.now)


def _topic_of(event: Payload):  # type: ignore[no-untyped-def]
    return psp.REQUESTS if isinstance(event, psp.ChargeRequested) else payments.EVENTS
