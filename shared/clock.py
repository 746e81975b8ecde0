"""Injected time. Services never call ``datetime.now`` directly; they ask their clock.

``TestableClock`` is real time plus an offset that may only move forward, and only outside
production mode. Services keep the offset in their own database, so a restart keeps it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class ClockLocked(RuntimeError):
    """The test clock cannot be moved in production mode."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class TestableClock:
    """Real time plus a forward-only offset."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, allowed: bool, offset_seconds: int = 0) -> None:
        self.allowed = allowed
        self.offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: int) -> int:
        """Move forward; returns the new total offset in seconds."""
        if not self.allowed:
            raise ClockLocked("the test clock is disabled in production mode")
        if seconds <= 0:
            raise ValueError("the clock only moves forward")
        self.offset += timedelta(seconds=seconds)
        return int(self.offset.total_seconds())

    def restore(self, offset_seconds: int) -> None:
        self.offset = timedelta(seconds=offset_seconds)


class FixedClock:
    """A clock for unit tests: stands still until told to move."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += timedelta(seconds=seconds)
