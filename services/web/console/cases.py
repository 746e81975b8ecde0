"""The case desk (arbitrators): escalated cases first; each with its order's whole timeline, the evidence (the
files kept here, checked against the SHA-256 the case records), the rule the published table proposes, and the
ruling form (``disputes.case.rule``, signed for the arbitrator)."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from services.web.console.auth import actor, staff_page
from services.web.i18n import parse_yuan
from services.web.orders import EVIDENCE_TYPES, evidence_folder
from services.web.pages import WebState, render, see_other
from services.web.security import Staff, checked_form, require, staff_or_403
from services.web.store import CaseView, EvidenceFile, MerchantView, OrderView, rejections_of, steps_of

DECISIONS = ("full_refund", "partial_refund", "reject")


def routes(state: WebState) -> list[Route]:
    async def desk(request: Request, staff: Staff) -> Response:
        async with state.db.transaction() as session:
            cases = (await session.exec(select(CaseView).order_by(col(CaseView.status) != "in_arbitration",
                                                                  col(CaseView.updated_at).desc()).limit(100))).all()
        return render(state, request, "console/cases.html", staff=staff, cases=cases)

    async def case_page(request: Request, staff: Staff) -> Response:
        case_id = request.path_params["case_id"]
        async with state.db.transaction() as session:
            case = await session.get(CaseView, case_id)
            require(case is not None, 404, "not_found")
            assert case is not None
            order = await session.get(OrderView, case.order_id)
            merchant = await session.get(MerchantView, case.merchant_id)
            steps = await steps_of(session, case.order_id)
            refusals = await rejections_of(session, case_id)
            kept = {row.sha256: row for row in (await session.exec(select(EvidenceFile).where(
                col(EvidenceFile.sha256).in_([e["sha256"] for e in case.evidence_list()])))).all()}
        evidence = [{**item, "kept": item["sha256"] in kept, "intact": _intact(state, kept.get(item["sha256"]))}
                    for item in case.evidence_list()]
        return render(state, request, "console/case.html", staff=staff, case=case, order=order, merchant=merchant,
                      steps=steps, evidence=evidence, proposal=case.proposal_dict(), refusals=refusals[-3:],
                      decisions=DECISIONS)

    async def rule(request: Request) -> Response:
        form = await checked_form(request)
        staff = staff_or_403(request, state.settings.session_hours, "arbitrator")
        case_id = request.path_params["case_id"]
        decision = str(form.get("decision", ""))
        require(decision in DECISIONS, 400, "refused")
        async with state.db.transaction() as session:
            case = await session.get(CaseView, case_id)
            require(case is not None, 404, "not_found")
            assert case is not None
            amount = parse_yuan(str(form.get("amount", ""))) if decision == "partial_refund" else None
            data: dict[str, Any] = {
                "case_id": case_id, "decision": decision, "reasons": str(form.get("reasons", "")).strip()[:2000],
                "return_required": form.get("return_required") == "yes",
                "amount": {"amount": amount, "currency": case.currency} if amount else None}
            try:
                await state.commands.queue(session, "disputes.case.rule", data, actor(staff, "arbitrator"),
                                           key=case.order_id, aggregate_id=case_id, roles=set(staff.roles),
                                           correlation_id=f"flow-{case.order_id}")
            except (ValidationError, ValueError):
                return see_other(f"/console/cases/{case_id}?error=refused")
        state.runtime.relay.wake()
        return see_other(f"/console/cases/{case_id}")

    async def evidence_file(request: Request) -> Response:
        staff_or_403(request, state.settings.session_hours, "arbitrator")
        digest = request.path_params["sha256"]
        async with state.db.transaction() as session:
            kept = await session.get(EvidenceFile, digest)
        require(kept is not None, 404, "not_found")
        assert kept is not None
        path = evidence_folder(state) / f"{kept.sha256}{EVIDENCE_TYPES[kept.content_type]}"
        require(path.exists(), 404, "not_found")
        return FileResponse(path, media_type=kept.content_type,
                            headers={"Content-Disposition": f'attachment; filename="{kept.sha256[:12]}{path.suffix}"'})

    return [Route("/console/cases", staff_page(state, "arbitrator", desk)),
            Route("/console/cases/{case_id}", staff_page(state, "arbitrator", case_page)),
            Route("/console/cases/{case_id}/rule", rule, methods=["POST"]),
            Route("/console/evidence/{sha256:str}", evidence_file)]


def _intact(state: WebState, kept: EvidenceFile | None) -> bool | None:
    """Whether the kept file still has the SHA-256 the case records (None: the file is not kept here)."""
    if kept is None:
        return None
    path = evidence_folder(state) / f"{kept.sha256}{EVIDENCE_TYPES[kept.content_type]}"
    return path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == kept.sha256
