"""Dead letters (operators): every service's, with the reason, where it came from and what a replay made of it
(never its content, which may hold personal data); a replay is an operator's ``control.deadletter.replay``, signed
for the operator, which the service handles once."""

from __future__ import annotations

from pydantic import ValidationError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web.console.auth import actor, staff_page
from services.web.pages import WebState, render, see_other
from services.web.security import Staff, checked_form, require, staff_or_403
from services.web.store import DeadLetterView, SentCommand


def routes(state: WebState) -> list[Route]:
    async def listing(request: Request, staff: Staff) -> Response:
        async with state.db.transaction() as session:
            letters = (await session.exec(select(DeadLetterView).order_by(col(DeadLetterView.recorded_at).desc())
                                          .limit(200))).all()
            asked = {row.aggregate_id: row for row in (await session.exec(select(SentCommand).where(
                SentCommand.type == "control.deadletter.replay"))).all()}
        return render(state, request, "console/deadletters.html", staff=staff, letters=letters, asked=asked)

    async def replay(request: Request) -> Response:
        await checked_form(request)
        staff = staff_or_403(request, state.settings.session_hours, "operator")
        letter_id = request.path_params["dead_letter_id"]
        async with state.db.transaction() as session:
            letter = await session.get(DeadLetterView, letter_id)
            require(letter is not None, 404, "not_found")
            assert letter is not None
            try:
                await state.commands.queue(session, "control.deadletter.replay",
                                           {"service": letter.service, "dead_letter_id": letter_id},
                                           actor(staff, "operator"), key=letter_id, roles=set(staff.roles))
            except (ValidationError, ValueError):
                return see_other("/console/deadletters?error=refused")
        state.runtime.relay.wake()
        return see_other("/console/deadletters")

    return [Route("/console/deadletters", staff_page(state, "operator", listing)),
            Route("/console/deadletters/{dead_letter_id}/replay", replay, methods=["POST"])]
