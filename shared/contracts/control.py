"""Control messages, read by every service: the roster of staff roles (admin only), dead-letter
replays (operators), and the test clock (operators; refused in production mode)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import ID_PATTERN
from shared.envelope import ActorKind, Payload


class AdvanceClock(Payload):
    """Move every service's test clock forward (dev/test mode only)."""

    TYPE: ClassVar[str] = "control.clock.advance"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.OPERATOR,)

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


class StaffRole(StrEnum):
    OPERATOR = "operator"
    REVIEWER = "reviewer"
    ARBITRATOR = "arbitrator"


PRINCIPAL = Field(pattern=ID_PATTERN, description="The staff member's id (the `sub` of their console tokens).", examples=["ARB-1"])


class RoleChange(Payload):
    """A change to the roster, by an administrator (the admin console's token)."""

    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.ADMIN,)

    principal_id: str = PRINCIPAL
    role: StaffRole = Field(description="The role given or taken away.", examples=["arbitrator"])
    reason: str = Field(min_length=1, max_length=200, description="Why (kept with the change).", examples=["joined the case desk"])


class GrantRole(RoleChange):
    """An administrator gives a staff member a role: operator, reviewer or arbitrator."""

    TYPE: ClassVar[str] = "control.roster.grant"


class RevokeRole(RoleChange):
    """An administrator takes a role away; the staff member's next command in that role is refused."""

    TYPE: ClassVar[str] = "control.roster.revoke"


class RosterChanged(Payload):
    """A service changed its copy of the roster (each service keeps its own, from the same commands)."""

    TYPE: ClassVar[str] = "control.roster.changed"

    service: str = Field(description="The service whose roster changed.", examples=["disputes"])
    principal_id: str = Field(description="The staff member.", examples=["ARB-1"])
    role: StaffRole = Field(description="The role.", examples=["arbitrator"])
    change: Literal["granted", "revoked"] = Field(description="What happened to it.", examples=["granted"])
    changed_by: str = Field(description="The administrator who asked.", examples=["ADMIN-1"])
    reason: str = Field(description="Why.", examples=["joined the case desk"])


class ReplayDeadLetter(Payload):
    """An operator asks a service to handle one of its dead letters again (after a fix), by the dead
    letter's event id (`danbao dlq list`). The service handles the original it kept; a command's own
    token must still prove its sender, with its expiry judged at the time the command first arrived."""

    TYPE: ClassVar[str] = "control.deadletter.replay"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.OPERATOR,)

    service: str = Field(pattern=r"^[a-z]{1,32}$", description="The service whose dead letter it is.", examples=["payments"])
    dead_letter_id: str = Field(max_length=64, description="`event_id` of the `deadletter.recorded` message.",
                                examples=["7f1c1f0e-2f0a-4a7e-9a57-2b0c6b1f9f10"])


class DeadLetterReplayed(Payload):
    """A service handled one of its dead letters again, at an operator's request."""

    TYPE: ClassVar[str] = "control.deadletter.replayed"

    service: str = Field(description="The service.", examples=["payments"])
    dead_letter_id: str = Field(description="The dead letter.", examples=["7f1c1f0e-2f0a-4a7e-9a57-2b0c6b1f9f10"])
    outcome: str = Field(description="What became of it: processed, rejected, repeated, parked or dead_lettered (again).",
                         examples=["processed"])
    replayed_by: str = Field(description="The operator.", examples=["OP-1"])


COMMANDS = TopicContract(topics.CONTROL_COMMANDS, "Platform controls: the staff roster, dead-letter replays, the test clock.",
                         [AdvanceClock, GrantRole, RevokeRole, ReplayDeadLetter])
EVENTS = TopicContract(topics.CONTROL_EVENTS, "Answers to control commands.",
                       [ClockAdvanced, ClockAdvanceRefused, RosterChanged, DeadLetterReplayed])
