"""Disputes: its runtime (health, metrics, test clock, command topic). Its domain arrives with its issue."""

from __future__ import annotations

from services.disputes.config import DisputesSettings
from shared.contracts import disputes
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.settings import PlatformSettings

DEFAULT_PORT = 8104


def build(settings: DisputesSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    definition = ServiceDefinition(
        name="disputes",
        default_port=DEFAULT_PORT,
        events=disputes.EVENTS,
        subscriptions=[Subscription(disputes.COMMANDS, {})],
    )
    return ServiceRuntime(definition, settings or DisputesSettings(), platform)
