"""Notifications: its runtime (health, metrics, test clock, command topic). Its domain arrives with its issue."""

from __future__ import annotations

from services.notifications.config import NotificationsSettings
from shared.contracts import notifications
from shared.runtime import ServiceRuntime, command_topic_service
from shared.settings import PlatformSettings

DEFAULT_PORT = 8105


def build(settings: NotificationsSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    return command_topic_service("notifications", DEFAULT_PORT, notifications.COMMANDS, notifications.EVENTS, settings or NotificationsSettings(), platform)
