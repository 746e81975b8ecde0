"""Notifications: every step reaches buyer and merchant — SMS, app push, e-mail, signed webhooks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from services.notifications import store
from services.notifications.channels import EmailChannel, GatewayChannel, WebhookChannel
from services.notifications.config import NotificationsSettings
from services.notifications.delivery import DeliveryWorker
from services.notifications.handlers import NotificationsHandlers, subscriptions
from services.notifications.migrations import SCHEMA
from shared.contracts import disputes, escrow, notifications, onboarding, payments
from shared.contracts.notifications import Channel
from shared.db import Database
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.settings import Mode, PlatformSettings

DEFAULT_PORT = 8105


async def open_notifications(db: Database) -> float:
    async with db.transaction() as session:
        return float(await store.open_count(session))


class NotificationsRuntime(ServiceRuntime):
    """The shared runtime plus the delivery worker, which runs beside the relay and the timers."""

    def __init__(self, definition: ServiceDefinition, settings: NotificationsSettings, platform: PlatformSettings,
                 handlers: NotificationsHandlers) -> None:
        super().__init__(definition, settings, platform)
        self.http = httpx.AsyncClient(timeout=settings.channel_timeout_seconds)
        channels = {
            Channel.SMS: GatewayChannel(self.http, settings.sms_url, settings.sms_api_key, "to"),
            Channel.PUSH: GatewayChannel(self.http, settings.push_url, settings.push_api_key, "device_token"),
            Channel.EMAIL: EmailChannel(settings.smtp_host, settings.smtp_port, settings.mail_from, settings.smtp_security,
                                        settings.smtp_username, settings.smtp_password, settings.channel_timeout_seconds),
            Channel.WEBHOOK: WebhookChannel(self.http, allow_private=handlers.allow_private_webhooks),
        }
        self.delivery = DeliveryWorker(
            self.db, self.clock, channels, settings.cipher(), settings.retry_policy(), on_commit=self.relay.wake,
            batch_size=settings.delivery_batch_size, concurrency=settings.delivery_concurrency,
            lease=timedelta(seconds=settings.channel_timeout_seconds * 2 + 30))
        handlers.wake_delivery = self.delivery.wake
        self._delivery_task: asyncio.Task[None] | None = None

    async def start_background(self) -> None:
        await super().start_background()
        self._delivery_task = asyncio.create_task(self.delivery.run(), name="notifications-delivery")

    @property
    def background_running(self) -> bool:
        return super().background_running and self._delivery_task is not None and not self._delivery_task.done()

    async def stop(self) -> None:
        self.delivery.stop()
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            await asyncio.gather(self._delivery_task, return_exceptions=True)
        await self.http.aclose()
        await super().stop()


def build(settings: NotificationsSettings | None = None, platform: PlatformSettings | None = None) -> NotificationsRuntime:
    settings = settings or NotificationsSettings()
    platform = platform or PlatformSettings()
    handlers = NotificationsHandlers(settings, allow_private_webhooks=platform.mode is not Mode.PRODUCTION)
    events = subscriptions(handlers)
    definition = ServiceDefinition(
        name="notifications",
        default_port=DEFAULT_PORT,
        events=notifications.EVENTS,
        schema=SCHEMA,
        subscriptions=[
            Subscription(notifications.COMMANDS, {
                notifications.RegisterContact.TYPE: handlers.register_contact,
                notifications.SetPreference.TYPE: handlers.set_preference,
                notifications.RegisterWebhook.TYPE: handlers.register_webhook,
            }, personal_data=True),  # phones, e-mail addresses, webhook secrets: dead letters are sealed
            Subscription(payments.EVENTS, events[payments.EVENTS.topic], group_suffix="payments-events", ignore_unknown_types=True),  # type: ignore[arg-type]
            Subscription(escrow.EVENTS, events[escrow.EVENTS.topic], group_suffix="escrow-events", ignore_unknown_types=True),  # type: ignore[arg-type]
            Subscription(onboarding.EVENTS, events[onboarding.EVENTS.topic], group_suffix="onboarding-events", ignore_unknown_types=True),  # type: ignore[arg-type]
            Subscription(disputes.EVENTS, events[disputes.EVENTS.topic], group_suffix="disputes-events", ignore_unknown_types=True),  # type: ignore[arg-type]
        ],
        gauges={"danbao_notifications_open": open_notifications},
        pii_cipher=settings.cipher(),
        public_seal_keys=settings.seal_keys().public_jwks(),
    )
    return NotificationsRuntime(definition, settings, platform, handlers)
