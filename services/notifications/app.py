"""Notifications: its runtime (health, metrics, test clock, command topic). Its domain arrives with its issue."""

from __future__ import annotations

from services.notifications.config import NotificationsSettings
from shared.contracts import notifications
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.settings import PlatformSettings

DEFAULT_PORT = 8105


def build(settings: NotificationsSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    definition = ServiceDefinition(
        name="notifications",
        default_port=DEFAULT_PORT,
        events=notifications.EVENTS,
        subscriptions=[Subscription(notifications.COMMANDS, {})],
    )
    return ServiceRuntime(definition, settings or NotificationsSettings(), platform)
