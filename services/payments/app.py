"""Payments: orders, payment intents by method, provider callbacks."""

from __future__ import annotations

from services.payments.config import PaymentsSettings
from services.payments.handlers import PAYOUT_TRANSFER, PROVIDER_TIMEOUT, UNPAID_EXPIRY, PaymentsHandlers
from services.payments.risk_desk import LONGEST_WINDOW
from services.payments.migrations import SCHEMA
from services.payments.risk_store import RiskTally
from shared.contracts import bank, collection, escrow, onboarding, payments, psp, risk
from shared.retention import Horizon
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.settings import PlatformSettings

DEFAULT_PORT = 8102


def build(settings: PaymentsSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    settings = settings or PaymentsSettings()
    handlers = PaymentsHandlers(settings)
    definition = ServiceDefinition(
        name="payments",
        default_port=DEFAULT_PORT,
        events=payments.EVENTS,
        schema=SCHEMA,
        publishes=[psp.REQUESTS, bank.REQUESTS],
        subscriptions=[
            Subscription(payments.COMMANDS, {
                payments.CreateOrder.TYPE: handlers.create_order,
                payments.PayOrder.TYPE: handlers.pay_order,
                payments.CancelOrder.TYPE: handlers.cancel_order,
                payments.RequestPayout.TYPE: handlers.request_payout,
                collection.IssueCollectionCode.TYPE: handlers.issue_code,
                collection.RedeemCollectionCode.TYPE: handlers.redeem_code,
                collection.RevokeCollectionCode.TYPE: handlers.revoke_code,
                risk.DecideRiskReview.TYPE: handlers.decide_review,
            }),
            Subscription(onboarding.EVENTS, {
                onboarding.MerchantActivated.TYPE: handlers.merchant_activated,
                onboarding.MerchantSuspended.TYPE: handlers.merchant_suspended,
                onboarding.MerchantReinstated.TYPE: handlers.merchant_reinstated,
            }, group_suffix="onboarding-events", ignore_unknown_types=True),
            Subscription(bank.CALLBACKS, {bank.TransferCompleted.TYPE: handlers.transfer_completed}, group_suffix="bank"),
            Subscription(psp.CALLBACKS, {psp.ChargeCallback.TYPE: handlers.charge_completed}, group_suffix="psp",
                         ignore_unknown_types=True),
            Subscription(escrow.EVENTS, {
                escrow.HoldRefunded.TYPE: handlers.hold_refunded,
                escrow.DirectPaymentRefunded.TYPE: handlers.direct_payment_refunded,
                escrow.RefundRefused.TYPE: handlers.refund_refused,
                escrow.PayoutReserved.TYPE: handlers.payout_reserved,
                escrow.PayoutDeclined.TYPE: handlers.payout_declined,
                escrow.HoldReleased.TYPE: handlers.merchant_paid_in,
                escrow.MerchantCredited.TYPE: handlers.merchant_paid_in,
            }, group_suffix="escrow-events", ignore_unknown_types=True),
        ],
        seed=handlers.seed,
        horizons=[Horizon(RiskTally.__table__, ("key", "grain", "bucket"), "at", LONGEST_WINDOW)],  # type: ignore[attr-defined]
        timers={UNPAID_EXPIRY: handlers.unpaid_deadline, PROVIDER_TIMEOUT: handlers.provider_deadline,
                PAYOUT_TRANSFER: handlers.payout_transfer_due},
    )
    return ServiceRuntime(definition, settings, platform)
