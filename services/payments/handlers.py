"""Payments use cases: load, decide with the domain, save; events go to the outbox."""

from __future__ import annotations

import json
from dataclasses import replace
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
    hold_payouts,
    merchant_payouts,
    merchant_status,
    merchant_industry,
    month_volume,
    record_late_capture,
    save_order,
    save_payout,
    seed_merchants,
    set_merchant,
    set_settlement_account,
)
from shared import timers
from shared.db import Database, upsert
from shared.settings import Mode, PlatformSettings
from shared.business_days import CalendarUnavailable, business_days_later
from shared.contracts import bank, escrow, onboarding, payments, psp
from shared.contracts import collection as collection_contracts
from shared.contracts import risk as risk_contracts
from shared.contracts.risk import RiskSubject
from shared.contracts.settlement import SettlementAccountKind, development_account_ref, seal_account
from services.payments.risk import Verdict
from services.payments.risk_desk import RiskDesk, blocks
from services.payments.risk_store import close_review, load_review, open_reviews_of
from shared.envelope import Actor, ActorKind, Envelope, Payload
from shared.pii import FieldCipher, development_keys, mask_bank_account
from shared.timers import DurableTimer
from shared.unit_of_work import Rejected, Undeliverable, UnitOfWork

UNPAID_EXPIRY = "unpaid-expiry"
PROVIDER_TIMEOUT = "provider-timeout"
PAYOUT_TRANSFER = "payout-transfer"
DEV_SETTLEMENT_CARD = "6222021234567890128"  # dev and test mode: the seeded merchants' settlement account


def development_account(merchant_id: str) -> payouts.PayoutAccount:
    """A seeded merchant's settlement account (dev and test mode only), sealed with the development bank-account seal keys."""
    ref = development_account_ref(merchant_id)
    cipher = FieldCipher.from_spec(development_keys("bank account seal"))
    return payouts.PayoutAccount(ref, mask_bank_account(DEV_SETTLEMENT_CARD), SettlementAccountKind.PERSONAL_CARD,
                                 seal_account(DEV_SETTLEMENT_CARD, merchant_id, ref, cipher))


class PaymentsHandlers:
    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings
        self.tokens = settings.tokens()
        self.risk = RiskDesk(settings.risk(), settings.risk_raises(settings.risk_merchant_limits))
        self.policy = domain.CancellationPolicy(
            window=timedelta(hours=settings.cancel_window_hours), warn=settings.cancel_warn_count,
            restrict=settings.cancel_restrict_count, restrict_for=timedelta(hours=settings.cancel_restrict_hours))

    async def seed(self, db: Database, platform: PlatformSettings, now: datetime) -> None:
        if platform.mode is not Mode.PRODUCTION:
            # the development merchants' raised risk limits (M-1001 carries the load tests), unless set otherwise
            self.risk.raise_of = {**self.settings.risk_raises(self.settings.dev_risk_merchant_limits), **self.risk.raise_of}
            async with db.transaction() as session:
                await seed_merchants(session, self.settings.dev_merchant_seeds(), now, development_account)

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
        if order is not None and decision.order is not None and decision.order.cancel_party == "merchant" \
                and order.status is domain.OrderStatus.PAID:
            verdict = await self.risk.merchant_cancelled(uow, order.merchant_id)
            if verdict is not None:  # the buyer's refund goes on; the merchant's payouts wait for an operator
                await self.risk.flag(uow, verdict, RiskSubject.CANCELLATION, order.order_id, order.merchant_id,
                                     buyer_id=order.buyer_id, order_id=order.order_id)
                await self._hold_payouts(uow, order.merchant_id)

    async def _hold_payouts(self, uow: UnitOfWork, merchant_id: str) -> None:
        """The merchant's payouts wait while a review of its cancellations is open."""
        open_reviews = await open_reviews_of(uow.session, merchant_id, RiskSubject.CANCELLATION)
        await hold_payouts(uow.session, merchant_id, f"risk review {', '.join(open_reviews)}" if open_reviews else None, uow.now)

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
        assert order is not None
        verdict = await self.risk.payment(uow, order.buyer_id, order.merchant_id, None, order.amount.amount)
        if verdict is not None:
            await self._hold(uow, order, command.method, verdict, created=False)
            return
        await self._charge(uow, decision)

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
        await save_order(uow.session, held, uow.now)
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
            await self.risk.paid(uow, order.merchant_id, decision.order.amount.amount)
        if any(isinstance(event, payments.PaymentFailed) for event in decision.events) and order is not None:
            await self.risk.failed(uow, order.buyer_id)
        await self._save(uow, decision, callback.order_id)

    # -- risk reviews --------------------------------------------------------------------------

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
            order = await load_order(uow.session, review.subject_id)
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

    # -- payouts (keyed by merchant id, so one merchant's payouts are handled in order) ----------

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
