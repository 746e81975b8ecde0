"""Onboarding: its runtime (health, metrics, test clock, command topic). Its domain arrives with its issue."""

from __future__ import annotations

from services.onboarding.config import OnboardingSettings
from shared.contracts import onboarding
from shared.runtime import ServiceRuntime, command_topic_service
from shared.settings import PlatformSettings

DEFAULT_PORT = 8101


def build(settings: OnboardingSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    return command_topic_service("onboarding", DEFAULT_PORT, onboarding.COMMANDS, onboarding.EVENTS, settings or OnboardingSettings(), platform)
