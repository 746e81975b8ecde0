"""The risk review queue (operators): payments and payouts a published risk rule held (``payments.risk.flagged``,
``review``), oldest first, with the rule, what it measured against its limit, and the parties; release or reject
with a note (``payments.risk.decide``, signed for the operator). Blocks and past decisions below, for the record."""

from __future__ import annotations

from pydantic import ValidationError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web.console.auth import actor, staff_page
from services.web.pages import WebState, render, see_other
from services.web.security import Staff, checked_form, require, staff_or_403
from services.web.store import RiskReviewView, SentCommand

DECISIONS = ("release", "reject")


def routes(state: WebState) -> list[Route]:
    async def queue(request: Request, staff: Staff) -> Response:
        async with state.db.transaction() as session:
            waiting = (await session.exec(select(RiskReviewView).where(
                RiskReviewView.outcome == "review", col(RiskReviewView.decision).is_(None))
                .order_by(col(RiskReviewView.flagged_at)))).all()
            done = (await session.exec(select(RiskReviewView).where(
                (RiskReviewView.outcome == "block") | col(RiskReviewView.decision).is_not(None))
                .order_by(col(RiskReviewView.flagged_at).desc()).limit(50))).all()
            asked = {row.aggregate_id: row for row in (await session.exec(select(SentCommand).where(
                SentCommand.type == "payments.risk.decide"))).all()}
        return render(state, request, "console/risk.html", staff=staff, waiting=waiting, done=done, asked=asked,
                      decisions=DECISIONS)

    async def decide(request: Request) -> Response:
        form = await checked_form(request)
        staff = staff_or_403(request, state.settings.session_hours, "operator")
        review_id = request.path_params["review_id"]
        decision = str(form.get("decision", ""))
        require(decision in DECISIONS, 400, "refused")
        async with state.db.transaction() as session:
            review = await session.get(RiskReviewView, review_id)
            require(review is not None, 404, "not_found")
            assert review is not None
            try:
                await state.commands.queue(
                    session, "payments.risk.decide",
                    {"review_id": review_id, "decision": decision, "note": str(form.get("note", "")).strip()[:500]},
                    actor(staff, "operator"), key=review.order_id or review.payout_id or review.merchant_id,
                    aggregate_id=review_id, roles=set(staff.roles))
            except (ValidationError, ValueError):
                return see_other("/console/risk?error=refused")
        state.runtime.relay.wake()
        return see_other("/console/risk")

    return [Route("/console/risk", staff_page(state, "operator", queue)),
            Route("/console/risk/{review_id}", decide, methods=["POST"])]
