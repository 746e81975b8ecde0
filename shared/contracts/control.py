"""Control messages for development and tests: the test clock. Refused in production mode."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.envelope import Payload


class AdvanceClock(Payload):
    """Move every service's test clock forward (dev/test mode only)."""

    TYPE: ClassVar[str] = "control.clock.advance"

    seconds: int = Field(ge=1, le=10 * 366 * 86400, description="How far to move the clock forward.", examples=[864000])


class ClockAdvanced(Payload):
    """A service moved its test clock."""

    TYPE: ClassVar[str] = "control.clock.advanced"

    service: str = Field(description="The service whose clock moved.", examples=["escrow"])
    offset_seconds: int = Field(description="Total offset from real time now in force.", examples=[864000])
    now: datetime = Field(description="The service's time after the move.", examples=["2026-12-03T08:30:00Z"])


class ClockAdvanceRefused(Payload):
    """A service refused to move its clock (production mode)."""

    TYPE: ClassVar[str] = "control.clock.refused"

    service: str = Field(description="The refusing service.", examples=["payments"])
    reason: str = Field(description="Why.", examples=["the test clock is disabled in production mode"])


COMMANDS = TopicContract(topics.CONTROL_COMMANDS, "Development and test controls.", [AdvanceClock])
EVENTS = TopicContract(topics.CONTROL_EVENTS, "Answers to control commands.", [ClockAdvanced, ClockAdvanceRefused])
