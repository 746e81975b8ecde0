"""Payments: orders, payment intents by method, provider callbacks."""

from __future__ import annotations

from services.payments.config import PaymentsSettings
from services.payments.handlers import PaymentsHandlers
from services.payments.store import TABLES
from shared.contracts import payments, psp
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
        tables=TABLES,
        publishes=[psp.REQUESTS],
        subscriptions=[
            Subscription(payments.COMMANDS, {
                payments.CreateOrder.TYPE: handlers.create_order,
                payments.PayOrder.TYPE: handlers.pay_order,
            }),
            Subscription(psp.CALLBACKS, {psp.ChargeCallback.TYPE: handlers.charge_completed}, group_suffix="psp"),
        ],
    )
    return ServiceRuntime(definition, settings, platform)
