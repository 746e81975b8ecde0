"""What every service does with ``danbao.control.commands``: keep its copy of the staff roster,
replay one of its dead letters for an operator, and move its test clock (dev and test mode).

Each command is authenticated like any other (``shared.authority``): roster changes only from the
admin console's issuer, replays and the clock only from operators on the roster."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from shared.authority import RosterEntry
from shared.clock import TestableClock
from shared.contracts import control
from shared.envelope import Envelope
from shared.messaging import ClockState
from shared.unit_of_work import Rejected, UnitOfWork

if TYPE_CHECKING:
    from shared.consumer import MessageConsumer


def control_handlers(service: str, clock: TestableClock, consumer: Callable[[], MessageConsumer]) -> dict[str, Any]:
    """The handlers of the control topic for ``service`` (``consumer`` gives its consumer, built later)."""

    async def advance_clock(uow: UnitOfWork, envelope: Envelope) -> None:
        if not clock.allowed:
            uow.emit(control.EVENTS, service, control.ClockAdvanceRefused(
                service=service, reason="the test clock is disabled in production mode"))
            return
        state = await uow.session.get(ClockState, service) or ClockState(service=service)
        state.offset_seconds += envelope.data.seconds
        uow.session.add(state)
        offset = state.offset_seconds
        uow.after_commit.append(lambda: clock.restore(offset))
        uow.now = datetime.now(timezone.utc) + timedelta(seconds=offset)
        uow.emit(control.EVENTS, service, control.ClockAdvanced(service=service, offset_seconds=offset, now=uow.now))

    async def grant(uow: UnitOfWork, envelope: Envelope) -> None:
        command: control.GrantRole = envelope.data
        entry = await uow.session.get(RosterEntry, (command.principal_id, command.role.value))
        if entry is not None:
            raise Rejected("already_granted", f"{command.principal_id} is {command.role.value} already", command.principal_id)
        uow.session.add(RosterEntry(principal_id=command.principal_id, role=command.role.value, granted_by=envelope.actor.id,
                                    reason=command.reason, granted_at=uow.now))
        _changed(uow, command.principal_id, command.role, "granted", envelope)

    async def revoke(uow: UnitOfWork, envelope: Envelope) -> None:
        command: control.RevokeRole = envelope.data
        entry = await uow.session.get(RosterEntry, (command.principal_id, command.role.value))
        if entry is None:
            raise Rejected("not_granted", f"{command.principal_id} is not {command.role.value}", command.principal_id)
        await uow.session.delete(entry)
        _changed(uow, command.principal_id, command.role, "revoked", envelope)

    def _changed(uow: UnitOfWork, principal: str, role: control.StaffRole, change: str, envelope: Envelope) -> None:
        uow.emit(control.EVENTS, principal, control.RosterChanged(
            service=service, principal_id=principal, role=role, change=change,  # type: ignore[arg-type]
            changed_by=envelope.actor.id, reason=envelope.data.reason))

    async def replay(uow: UnitOfWork, envelope: Envelope) -> None:
        command: control.ReplayDeadLetter = envelope.data
        if command.service != service:
            return  # another service's dead letter
        outcome = await consumer().replay(uow, command.dead_letter_id)
        uow.emit(control.EVENTS, command.dead_letter_id, control.DeadLetterReplayed(
            service=service, dead_letter_id=command.dead_letter_id, outcome=outcome, replayed_by=envelope.actor.id))

    return {control.AdvanceClock.TYPE: advance_clock, control.GrantRole.TYPE: grant, control.RevokeRole.TYPE: revoke,
            control.ReplayDeadLetter.TYPE: replay}
