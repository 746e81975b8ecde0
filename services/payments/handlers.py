"""Payments use cases: load, decide with the domain, save; events go to the outbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from services.payments import collection, domain, fees, payouts
from services.payments.collection_store import load_code, save_code
from services.payments.config import PaymentsSettings
from services.payments.store import (
    BuyerRestriction,
    add_month_volume,
    buyer_cancellations_since,
    buyer_restricted_until,
    late_capture_recorded,
    load_order,
    load_payout,
    merchant_facts,
    merchant_status,
    merchant_industry,
    month_volume,
    record_late_capture,
    save_order,
    save_payout,
    seed_merchants,
    set_merchant,
)
from shared import timers
from shared.db import Database, upsert
from shared.settings import Mode, PlatformSettings
from shared.business_days import business_days_later
from shared.contracts import bank, escrow, onboarding, payments, psp
from shared.contracts import collection as collection_contracts
from shared.envelope import Envelope, Payload
from shared.timers import DurableTimer
from shared.unit_of_work import Undeliverable, UnitOfWork

UNPAID_EXPIRY = "unpaid-expiry"
PROVIDER_TIMEOUT = "provider-timeout"
PAYOUT_TRANSFER = "payout-transfer"


class PaymentsHandlers:
    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings
        self.tokens = settings.tokens()
        self.policy = domain.CancellationPolicy(
            window=timedelta(hours=settings.cancel_window_hours), warn=settings.cancel_warn_count,
            restrict=settings.cancel_restrict_count, restrict_for=timedelta(hours=settings.cancel_restrict_hours))

    async def seed(self, db: Database, platform: PlatformSettings, now: datetime) -> None:
        if platform.mode is not Mode.PRODUCTION:
            async with db.transaction() as session:
                await seed_merchants(session, self.settings.dev_merchant_seeds(), now)

    async def create_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.CreateOrder = message.data
        order = await load_order(uow.session, command.order_id)
        status = await merchant_status(uow.session, command.merchant_id)
        restricted = await buyer_restricted_until(uow.session, command.buyer_id, uow.now)
        decision = domain.create_order(order, command, message.actor, status, restricted)
        if decision.events:
            due = uow.now + timedelta(minutes=self.settings.unpaid_order_minutes)
            await timers.schedule(uow, UNPAID_EXPIRY, command.order_id, due)
        await self._save(uow, decision, command.order_id)

    async def unpaid_deadline(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        order = await load_order(uow.session, timer.aggregate_id)
        if order is not None and order.status is domain.OrderStatus.PAYMENT_PENDING:
            # The provider has not answered yet: look again a little later.
            await timers.schedule(uow, UNPAID_EXPIRY, order.order_id, uow.now + timedelta(minutes=5))
            return
        await self._save(uow, domain.expire(order), timer.aggregate_id)

    async def cancel_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.CancelOrder = message.data
        order = await load_order(uow.session, command.order_id)
        decision = domain.cancel(order, command, message.actor)
        if decision.order is not None and decision.order.status in domain.CLOSED:
            await timers.cancel(uow, UNPAID_EXPIRY, command.order_id)
        await self._save(uow, decision, command.order_id)
        if decision.order is not None and decision.order.cancel_party == "buyer":
            await self._watch_buyer(uow, decision.order.buyer_id)

    async def _watch_buyer(self, uow: UnitOfWork, buyer_id: str) -> None:
        count = await buyer_cancellations_since(uow.session, buyer_id, uow.now - self.policy.window)
        for event in self.policy.apply(buyer_id, count, uow.now):
            if isinstance(event, payments.BuyerRestricted):
                await upsert(uow.session, BuyerRestriction, dict(buyer_id=buyer_id, until=event.until, cancellations=count), insert_only=())
            uow.emit(payments.EVENTS, buyer_id, event)

    async def hold_refunded(self, uow: UnitOfWork, message: Envelope) -> None:
        refunded: escrow.HoldRefunded = message.data
        order = await load_order(uow.session, refunded.order_id)
        await self._save(uow, domain.refund_settled(order, refunded.amount.amount, refunded.reason), refunded.order_id)

    async def direct_payment_refunded(self, uow: UnitOfWork, message: Envelope) -> None:
        refunded: escrow.DirectPaymentRefunded = message.data
        order = await load_order(uow.session, refunded.order_id)
        await self._save(uow, domain.refund_settled(order, refunded.amount.amount, refunded.reason), refunded.order_id)

    async def refund_refused(self, uow: UnitOfWork, message: Envelope) -> None:
        refused: escrow.RefundRefused = message.data
        order = await load_order(uow.session, refused.order_id)
        await self._save(uow, domain.refund_refused(order, refused.reason), refused.order_id)

    async def pay_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.PayOrder = message.data
        order = await load_order(uow.session, command.order_id)
        decision = domain.pay(order, command, message.actor, uow.now, self.settings.provider_wait)
        await self._charge(uow, decision)

    async def _charge(self, uow: UnitOfWork, decision: domain.Decision) -> None:
        """Save a payment the provider is asked to charge, and wait for its answer."""
        assert decision.order is not None and decision.order.intent_id is not None
        await timers.schedule(uow, PROVIDER_TIMEOUT, decision.order.order_id, uow.now + self.settings.provider_wait,
                              {"intent_id": decision.order.intent_id})
        await self._save(uow, decision, decision.order.order_id)

    # -- collection codes ---------------------------------------------------------------------

    async def issue_code(self, uow: UnitOfWork, message: Envelope) -> None:
        command: collection_contracts.IssueCollectionCode = message.data
        code = await load_code(uow.session, command.code_id)
        merchant = await merchant_facts(uow.session, command.merchant_id)
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
        merchant = await merchant_facts(uow.session, claims.merchant_id)
        order_id = collection.order_id_of(code, command) if code is not None else None
        existing = await load_order(uow.session, order_id) if order_id else None
        restricted = await buyer_restricted_until(uow.session, message.actor.id, uow.now)
        redemption = collection.redeem(code, claims, command, message.actor, merchant, existing, restricted,
                                       self.settings.provider_wait, uow.now)
        if redemption is None:
            return
        await save_code(uow.session, redemption.code, uow.now)
        await timers.schedule(uow, UNPAID_EXPIRY, redemption.order.order_id,
                              uow.now + timedelta(minutes=self.settings.unpaid_order_minutes))
        await self._charge(uow, domain.Decision(redemption.order, redemption.events))

    async def _save_code(self, uow: UnitOfWork, decision: collection.CodeDecision) -> None:
        if not decision.events:
            return
        assert decision.code is not None
        await save_code(uow.session, decision.code, uow.now)
        for event in decision.events:
            uow.emit(payments.EVENTS, decision.code.code_id, event)

    async def provider_deadline(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        order = await load_order(uow.session, timer.aggregate_id)
        await self._save(uow, domain.provider_timeout(order, json.loads(timer.data)["intent_id"]), timer.aggregate_id)

    async def charge_completed(self, uow: UnitOfWork, message: Envelope) -> None:
        callback: psp.ChargeCallback = message.data
        if not callback.signature_valid(self.settings.psp_callback_secret):
            raise Undeliverable("bad_signature", f"callback for intent {callback.intent_id} is not signed by the provider")
        order = await load_order(uow.session, callback.order_id)
        rate_bp = 0
        if order is not None and order.method is not None:
            industry = await merchant_industry(uow.session, order.merchant_id)
            volume = await month_volume(uow.session, order.merchant_id, fees.month_of(uow.now))
            rate_bp = fees.rate(industry, order.method, volume).rate_bp
        recorded = await late_capture_recorded(uow.session, callback.intent_id)
        decision = domain.settle_charge(order, callback, rate_bp, uow.now, recorded)
        for event in decision.events:
            if isinstance(event, payments.PaymentCapturedLate):  # recorded once per intent: escrow gives it back
                await record_late_capture(uow.session, event, uow.now)
        if decision.order == order:  # a late capture leaves the order exactly as it was
            for event in decision.events:
                uow.emit(payments.EVENTS, callback.order_id, event)
            return
        if decision.order is not None and decision.order.status is domain.OrderStatus.PAID and decision.events:
            await timers.cancel(uow, UNPAID_EXPIRY, callback.order_id)
            await add_month_volume(uow.session, order.merchant_id, fees.month_of(uow.now), decision.order.amount.amount)
        await self._save(uow, decision, callback.order_id)

    # -- merchant status, from onboarding's events -----------------------------------------

    async def merchant_activated(self, uow: UnitOfWork, message: Envelope) -> None:
        event: onboarding.MerchantActivated = message.data
        await set_merchant(uow.session, event.merchant_id, uow.now, status="active", industry=event.industry, verified=event.verified)
        uow.wake(domain.merchant_key(event.merchant_id))  # orders created before this was read wait for it

    async def merchant_suspended(self, uow: UnitOfWork, message: Envelope) -> None:
        await set_merchant(uow.session, message.data.merchant_id, uow.now, status="suspended")
        uow.wake(domain.merchant_key(message.data.merchant_id))  # orders waiting for it are refused now

    async def merchant_reinstated(self, uow: UnitOfWork, message: Envelope) -> None:
        await set_merchant(uow.session, message.data.merchant_id, uow.now, status="active")

    # -- payouts (keyed by merchant id, so one merchant's payouts are handled in order) ----------

    async def request_payout(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.RequestPayout = message.data
        payout = await load_payout(uow.session, command.payout_id)
        await self._save_payout(uow, payouts.request(payout, command, message.actor))

    async def payout_reserved(self, uow: UnitOfWork, message: Envelope) -> None:
        event: escrow.PayoutReserved = message.data
        payout = await load_payout(uow.session, event.payout_id)
        transfer_at = business_days_later(uow.now, 1)
        decision = payouts.reserved(payout, transfer_at)
        if decision.events:
            await timers.schedule(uow, PAYOUT_TRANSFER, event.payout_id, transfer_at)
        await self._save_payout(uow, decision)

    async def payout_declined(self, uow: UnitOfWork, message: Envelope) -> None:
        event: escrow.PayoutDeclined = message.data
        payout = await load_payout(uow.session, event.payout_id)
        await self._save_payout(uow, payouts.declined(payout, event.reason))

    async def payout_transfer_due(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        payout = await load_payout(uow.session, timer.aggregate_id)
        await self._save_payout(uow, payouts.send(payout))

    async def transfer_completed(self, uow: UnitOfWork, message: Envelope) -> None:
        outcome: bank.TransferCompleted = message.data
        if not outcome.signature_valid(self.settings.bank_callback_secret):
            raise Undeliverable("bad_signature", f"transfer outcome for {outcome.payout_id} is not signed by the bank")
        payout = await load_payout(uow.session, outcome.payout_id)
        await self._save_payout(uow, payouts.completed(payout, outcome))

    async def _save_payout(self, uow: UnitOfWork, decision: payouts.PayoutDecision) -> None:
        if not decision.events:
            return
        assert decision.payout is not None
        await save_payout(uow.session, decision.payout, uow.now)
        for event in decision.events:
            topic = bank.REQUESTS if isinstance(event, bank.TransferRequested) else payments.EVENTS
            uow.emit(topic, decision.payout.merchant_id, event)

    async def _save(self, uow: UnitOfWork, decision: domain.Decision, order_id: str) -> None:
        if not decision.events:
            return
        assert decision.order is not None
        await save_order(uow.session, decision.order, uow.now)
        for event in decision.events:
            uow.emit(_topic_of(event), order_id, event)


def _topic_of(event: Payload):  # type: ignore[no-untyped-def]
    return psp.REQUESTS if isinstance(event, psp.ChargeRequested) else payments.EVENTS
