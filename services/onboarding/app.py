"""Onboarding: its runtime (health, metrics, test clock, command topic). Its domain arrives with its issue."""

from __future__ import annotations

from services.onboarding.config import OnboardingSettings
from shared.contracts import onboarding
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.settings import PlatformSettings

DEFAULT_PORT = 8101


def build(settings: OnboardingSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    definition = ServiceDefinition(
        name="onboarding",
        default_port=DEFAULT_PORT,
        events=onboarding.EVENTS,
        subscriptions=[Subscription(onboarding.COMMANDS, {})],
    )
    return ServiceRuntime(definition, settings or OnboardingSettings(), platform)
