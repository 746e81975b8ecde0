"""Payments use cases: load, decide with the domain, save; events go to the outbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from services.payments import domain, fees, payouts
from services.payments.collection_handlers import CollectionHandlers
from services.payments.handler_base import PAYOUT_TRANSFER, PROVIDER_TIMEOUT, UNPAID_EXPIRY
from services.payments.payout_handlers import PayoutHandlers
from services.payments.risk_handlers import RiskHandlers
from services.payments.store import (
    BuyerRestriction,
    PaymentOrder,
    add_month_volume,
    buyer_cancellations_since,
    buyer_restricted_until,
    late_capture_recorded,
    load_order,
    merchant_industry,
    merchant_status,
    month_volume,
    record_late_capture,
    seed_merchants,
    set_merchant,
    set_settlement_account,
)
from shared import timers
from shared.contracts import escrow, onboarding, payments, psp
from shared.contracts.risk import RiskSubject
from shared.contracts.settlement import SettlementAccountKind, development_account_ref, seal_account
from shared.db import Database, upsert
from shared.envelope import Envelope
from shared.pii import FieldCipher, development_keys, mask_bank_account
from shared.settings import Mode, PlatformSettings
from shared.timers import DurableTimer
from shared.unit_of_work import Undeliverable, UnitOfWork
from shared.workspace import prefetch

__all__ = ["PAYOUT_TRANSFER", "PROVIDER_TIMEOUT", "UNPAID_EXPIRY", "PaymentsHandlers", "development_account"]

DEV_SETTLEMENT_CARD = "6222021234567890128"  # dev and test mode: the seeded merchants' settlement account


def development_account(merchant_id: str) -> payouts.PayoutAccount:
    """A seeded merchant's settlement account (dev and test mode only), sealed with the development bank-account seal keys."""
    ref = development_account_ref(merchant_id)
    cipher = FieldCipher.from_spec(development_keys("bank account seal"))
    return payouts.PayoutAccount(ref, mask_bank_account(DEV_SETTLEMENT_CARD), SettlementAccountKind.PERSONAL_CARD,
                                 seal_account(DEV_SETTLEMENT_CARD, merchant_id, ref, cipher))


class PaymentsHandlers(CollectionHandlers, PayoutHandlers, RiskHandlers):
    """Every payments handler: orders and payments here, collection codes, payouts and risk reviews in theirs."""

    async def seed(self, db: Database, platform: PlatformSettings, now: datetime) -> None:
        if platform.mode is not Mode.PRODUCTION:
            # the development merchants' raised risk limits (M-1001 carries the load tests), unless set otherwise
            self.risk.raise_of = {**self.settings.risk_raises(self.settings.dev_risk_merchant_limits), **self.risk.raise_of}
            async with db.transaction() as session:
                await seed_merchants(session, self.settings.dev_merchant_seeds(), now, development_account)

    @prefetch((PaymentOrder, lambda m: m.data.order_id), (BuyerRestriction, lambda m: m.data.buyer_id))
    async def create_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.CreateOrder = message.data
        order = await load_order(uow.ws, command.order_id)
        status = await merchant_status(uow.ws, command.merchant_id)
        restricted = await buyer_restricted_until(uow.ws, command.buyer_id, uow.now)
        decision = domain.create_order(order, command, message.actor, status, restricted)
        if decision.events:
            due = uow.now + timedelta(minutes=self.settings.unpaid_order_minutes)
            await timers.schedule(uow, UNPAID_EXPIRY, command.order_id, due)
        await self._save(uow, decision, command.order_id)

    async def unpaid_deadline(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        order = await load_order(uow.ws, timer.aggregate_id)
        if order is not None and order.status is domain.OrderStatus.PAYMENT_PENDING:
            # The provider has not answered yet: look again a little later.
            await timers.schedule(uow, UNPAID_EXPIRY, order.order_id, uow.now + timedelta(minutes=5))
            return
        await self._save(uow, domain.expire(order), timer.aggregate_id)

    async def cancel_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.CancelOrder = message.data
        order = await load_order(uow.ws, command.order_id)
        decision = domain.cancel(order, command, message.actor)
        if decision.order is not None and decision.order.status in domain.CLOSED:
            await timers.cancel(uow, UNPAID_EXPIRY, command.order_id)
        await self._save(uow, decision, command.order_id)
        if decision.order is not None and decision.order.cancel_party == "buyer":
            await self._watch_buyer(uow, decision.order.buyer_id)
        if order is not None and decision.order is not None and decision.order.cancel_party == "merchant" \
                and order.status is domain.OrderStatus.PAID:
            verdict = await self.risk.merchant_cancelled(uow, order.merchant_id)
            if verdict is not None:  # the buyer's refund goes on; the merchant's payouts wait for an operator
                await self.risk.flag(uow, verdict, RiskSubject.CANCELLATION, order.order_id, order.merchant_id,
                                     buyer_id=order.buyer_id, order_id=order.order_id)
                await self._hold_payouts(uow, order.merchant_id)

    async def _watch_buyer(self, uow: UnitOfWork, buyer_id: str) -> None:
        count = await buyer_cancellations_since(uow.session, buyer_id, uow.now - self.policy.window)
        for event in self.policy.apply(buyer_id, count, uow.now):
            if isinstance(event, payments.BuyerRestricted):
                await upsert(uow.session, BuyerRestriction, dict(buyer_id=buyer_id, until=event.until, cancellations=count), insert_only=())
            uow.emit(payments.EVENTS, buyer_id, event)

    async def hold_refunded(self, uow: UnitOfWork, message: Envelope) -> None:
        refunded: escrow.HoldRefunded = message.data
        order = await load_order(uow.ws, refunded.order_id)
        await self._save(uow, domain.refund_settled(order, refunded.amount.amount, refunded.reason), refunded.order_id)

    async def direct_payment_refunded(self, uow: UnitOfWork, message: Envelope) -> None:
        refunded: escrow.DirectPaymentRefunded = message.data
        order = await load_order(uow.ws, refunded.order_id)
        await self._save(uow, domain.refund_settled(order, refunded.amount.amount, refunded.reason), refunded.order_id)

    async def refund_refused(self, uow: UnitOfWork, message: Envelope) -> None:
        refused: escrow.RefundRefused = message.data
        order = await load_order(uow.ws, refused.order_id)
        await self._save(uow, domain.refund_refused(order, refused.reason), refused.order_id)

    @prefetch((PaymentOrder, lambda m: m.data.order_id))
    async def pay_order(self, uow: UnitOfWork, message: Envelope) -> None:
        command: payments.PayOrder = message.data
        order = await load_order(uow.ws, command.order_id)
        decision = domain.pay(order, command, message.actor, uow.now, self.settings.provider_wait)
        assert order is not None
        verdict = await self.risk.payment(uow, order.buyer_id, order.merchant_id, None, order.amount.amount)
        if verdict is not None:
            await self._hold(uow, order, command.method, verdict, created=False)
            return
        await self._charge(uow, decision)


    async def provider_deadline(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        order = await load_order(uow.ws, timer.aggregate_id)
        await self._save(uow, domain.provider_timeout(order, json.loads(timer.data)["intent_id"]), timer.aggregate_id)

    @prefetch((PaymentOrder, lambda m: m.data.order_id),
              (DurableTimer, lambda m: timers.timer_key(UNPAID_EXPIRY)(m.data.order_id)))
    async def charge_completed(self, uow: UnitOfWork, message: Envelope) -> None:
        callback: psp.ChargeCallback = message.data
        if not callback.signature_valid(self.settings.psp_callback_secret):
            raise Undeliverable("bad_signature", f"callback for intent {callback.intent_id} is not signed by the provider")
        order = await load_order(uow.ws, callback.order_id)
        rate_bp = 0
        if order is not None and order.method is not None and callback.status is psp.ChargeStatus.SUCCEEDED \
                and callback.intent_id == order.intent_id:  # the fee's inputs only for a capture that may pay the order
            industry = await merchant_industry(uow.ws, order.merchant_id)
            volume = await month_volume(uow.ws, order.merchant_id, fees.month_of(uow.now))
            rate_bp = fees.rate(industry, order.method, volume).rate_bp
        decision = domain.settle_charge(order, callback, rate_bp, uow.now)
        if any(isinstance(event, payments.PaymentCapturedLate) for event in decision.events) \
                and await late_capture_recorded(uow.ws, callback.intent_id):  # looked up only for a late capture
            decision = domain.settle_charge(order, callback, rate_bp, uow.now, late_capture_recorded=True)
        for event in decision.events:
            if isinstance(event, payments.PaymentCapturedLate):  # recorded once per intent: escrow gives it back
                await record_late_capture(uow.ws, event, uow.now)
        if decision.order == order:  # a late capture leaves the order exactly as it was
            for event in decision.events:
                uow.emit(payments.EVENTS, callback.order_id, event)
            return
        if decision.order is not None and decision.order.status is domain.OrderStatus.PAID and decision.events:
            await timers.cancel(uow, UNPAID_EXPIRY, callback.order_id)
            await add_month_volume(uow.ws, order.merchant_id, fees.month_of(uow.now), decision.order.amount.amount)
            await self.risk.paid(uow, order.merchant_id, decision.order.amount.amount)
        if any(isinstance(event, payments.PaymentFailed) for event in decision.events) and order is not None:
            await self.risk.failed(uow, order.buyer_id)
        await self._save(uow, decision, callback.order_id)

    # -- merchant status, from onboarding's events -----------------------------------------

    async def merchant_activated(self, uow: UnitOfWork, message: Envelope) -> None:
        event: onboarding.MerchantActivated = message.data
        await set_merchant(uow.session, event.merchant_id, uow.now, status="active", industry=event.industry, verified=event.verified,
                           activated=True)
        if event.settlement_account_ref and event.sealed_settlement_account:  # absent in events from before they were added
            await set_settlement_account(uow.session, event.merchant_id, payouts.PayoutAccount(
                event.settlement_account_ref, event.settlement_account_masked or "****",
                event.settlement_account_kind or SettlementAccountKind.PERSONAL_CARD, event.sealed_settlement_account))
        uow.wake(domain.merchant_key(event.merchant_id))  # orders created before this was read wait for it

    async def merchant_suspended(self, uow: UnitOfWork, message: Envelope) -> None:
        await set_merchant(uow.session, message.data.merchant_id, uow.now, status="suspended")
        uow.wake(domain.merchant_key(message.data.merchant_id))  # orders waiting for it are refused now

    async def merchant_reinstated(self, uow: UnitOfWork, message: Envelope) -> None:
        await set_merchant(uow.session, message.data.merchant_id, uow.now, status="active")
