"""The merchant review queue (reviewers): applications the automatic checks could not settle, by SLA due time,
with the credit registry's result and the risk score; approve, reject or ask for documents
(``onboarding.review.decide``, signed for the reviewer)."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import ValidationError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web.console.auth import actor, staff_page
from services.web.pages import WebState, render, see_other
from services.web.security import Staff, checked_form, require, staff_or_403
from services.web.store import MerchantView, rejections_of

QUEUE = ("review", "documents_requested", "checking")
DECISIONS = ("approve", "reject", "request_documents")


def routes(state: WebState) -> list[Route]:
    async def queue(request: Request, staff: Staff) -> Response:
        async with state.db.transaction() as session:
            waiting = (await session.exec(select(MerchantView).where(col(MerchantView.status).in_(QUEUE))
                                          .order_by(col(MerchantView.due_at).is_(None), col(MerchantView.due_at),
                                                    col(MerchantView.applied_at)))).all()
            decided = (await session.exec(select(MerchantView).where(col(MerchantView.decided_by).is_not(None),
                                                                     col(MerchantView.decided_by) != "automatic")
                                          .order_by(col(MerchantView.applied_at).desc()).limit(20))).all()
        return render(state, request, "console/reviews.html", staff=staff, waiting=waiting, decided=decided,
                      now=datetime.now(timezone.utc))

    async def application(request: Request, staff: Staff) -> Response:
        merchant_id = request.path_params["merchant_id"]
        async with state.db.transaction() as session:
            merchant = await session.get(MerchantView, merchant_id)
            require(merchant is not None and merchant.applied_at is not None, 404, "not_found")
            refusals = await rejections_of(session, merchant_id)
        return render(state, request, "console/review.html", staff=staff, merchant=merchant, refusals=refusals[-3:],
                      decisions=DECISIONS, now=datetime.now(timezone.utc))

    async def decide(request: Request) -> Response:
        form = await checked_form(request)
        staff = staff_or_403(request, state.settings.session_hours, "reviewer")
        merchant_id = request.path_params["merchant_id"]
        decision = str(form.get("decision", ""))
        require(decision in DECISIONS, 400, "refused")
        reasons = [line.strip()[:500] for line in str(form.get("reasons", "")).splitlines() if line.strip()][:10]
        async with state.db.transaction() as session:
            require(await session.get(MerchantView, merchant_id) is not None, 404, "not_found")
            try:
                await state.commands.queue(session, "onboarding.review.decide",
                                           {"merchant_id": merchant_id, "decision": decision, "reasons": reasons},
                                           actor(staff, "reviewer"), key=merchant_id, roles=set(staff.roles))
            except (ValidationError, ValueError):
                return see_other(f"/console/reviews/{merchant_id}?error=refused")
        state.runtime.relay.wake()
        return see_other(f"/console/reviews/{merchant_id}")

    return [Route("/console/reviews", staff_page(state, "reviewer", queue)),
            Route("/console/reviews/{merchant_id}", staff_page(state, "reviewer", application)),
            Route("/console/reviews/{merchant_id}", decide, methods=["POST"])]
