"""Disputes: its runtime (health, metrics, test clock, command topic). Its domain arrives with its issue."""

from __future__ import annotations

from services.disputes.config import DisputesSettings
from shared.contracts import disputes
from shared.runtime import ServiceRuntime, command_topic_service
from shared.settings import PlatformSettings

DEFAULT_PORT = 8104


def build(settings: DisputesSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    return command_topic_service("disputes", DEFAULT_PORT, disputes.COMMANDS, disputes.EVENTS, settings or DisputesSettings(), platform)
