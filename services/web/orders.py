"""A buyer follows an order live (``/orders/<id>``, its status fragment polled): paid, held, shipped with the
auto-confirm time; confirms receipt; asks for a refund with evidence (the case records the file's SHA-256);
answers the merchant's counter-offer; asks the platform to step in; gives the three-day verification feedback.
Each action is one command signed by the buyer app for this buyer only, and the order must be theirs."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web.i18n import parse_yuan
from services.web.pages import WebState, render, see_other
from services.web.security import checked_form, current_buyer, require
from services.web.store import (CaseView, EvidenceFile, MerchantView, OrderView, SentCommand, rejections_of, steps_of)
from shared.contracts.disputes import CaseReason
from shared.envelope import ActorKind

EVIDENCE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}
REFUND_STATUSES = ("held", "shipped", "released", "paid", "completed")


def evidence_folder(state: WebState) -> Path:
    return state.settings.evidence_dir or state.runtime.platform.data_dir / "web-evidence"


async def order_context(state: WebState, buyer: str, order_id: str) -> dict[str, Any]:
    """Everything the order page shows; 404 unless the order (or the command that will create it) is this buyer's."""
    async with state.db.transaction() as session:
        order = await session.get(OrderView, order_id)
        if order is None or not order.buyer_id:  # not read yet (or only a placeholder from escrow's events)
            latest = (await session.exec(select(SentCommand).where(
                SentCommand.actor_id == buyer, SentCommand.aggregate_id == order_id,
                SentCommand.type == "payments.collection.redeem").order_by(col(SentCommand.sent_at).desc()))).first()
            require(latest is not None, 404, "not_found")
            assert latest is not None
            return {"order": None, "order_id": order_id, "pending": latest, "version": f"pending-{latest.rejected or ''}"}
        assert order is not None
        require(order.buyer_id == buyer, 404, "not_found")
        merchant = await session.get(MerchantView, order.merchant_id)
        case = (await session.exec(select(CaseView).where(CaseView.order_id == order_id)
                                   .order_by(col(CaseView.opened_at).desc()))).first()
        steps = await steps_of(session, order_id)
        refusals = await rejections_of(session, order_id)
        if case is not None:
            refusals += await rejections_of(session, case.case_id)
    version = f"{order.updated_at.isoformat()}|{len(steps)}|{len(refusals)}|{case.updated_at.isoformat() if case else ''}"
    return {"order": order, "order_id": order_id, "merchant": merchant, "case": case, "steps": steps,
            "refusals": refusals[-3:], "version": version, "now": datetime.now(timezone.utc),
            "can_refund": order.guaranteed and order.status in REFUND_STATUSES and (case is None or case.status == "closed")}


def routes(state: WebState) -> list[Route]:
    settings = state.settings

    def buyer_of(request: Request) -> str | None:
        return current_buyer(request, settings.session_hours)

    async def order_page(request: Request) -> Response:
        buyer = buyer_of(request)
        order_id = request.path_params["order_id"]
        if buyer is None:
            request.session["return_to"] = f"/orders/{order_id}"
            return render(state, request, "cashier/signin.html", status=401)
        return render(state, request, "cashier/order.html", **await order_context(state, buyer, order_id))

    async def live(request: Request) -> Response:
        buyer = buyer_of(request)
        require(buyer is not None, 401, "forbidden")
        assert buyer is not None
        return render(state, request, "cashier/_live.html", **await order_context(state, buyer, request.path_params["order_id"]))

    async def my_orders(request: Request) -> Response:
        buyer = buyer_of(request)
        if buyer is None:
            request.session["return_to"] = "/orders"
            return render(state, request, "cashier/signin.html")
        async with state.db.transaction() as session:
            orders = (await session.exec(select(OrderView).where(OrderView.buyer_id == buyer)
                                         .order_by(col(OrderView.created_at).desc()).limit(50))).all()
        return render(state, request, "cashier/orders.html", orders=orders)

    def action(command_type: str, build: Any) -> Any:
        """A POST on an order of this buyer's that sends one command; ``build(form, order, case)`` gives its data
        (None: nothing to send)."""

        async def handle(request: Request) -> Response:
            form = await checked_form(request)
            buyer = buyer_of(request)
            order_id = request.path_params["order_id"]
            require(buyer is not None, 401, "forbidden")
            assert buyer is not None
            async with state.db.transaction() as session:
                order = await session.get(OrderView, order_id)
                require(order is not None and order.buyer_id == buyer, 404, "not_found")
                case = (await session.exec(select(CaseView).where(CaseView.order_id == order_id)
                                           .order_by(col(CaseView.opened_at).desc()))).first()
                data = build(form, order, case)
                if data is not None:
                    try:
                        await state.commands.queue(session, command_type, data, (ActorKind.BUYER, buyer),
                                                   key=order_id, correlation_id=f"flow-{order_id}")
                    except (ValidationError, ValueError):
                        return see_other(f"/orders/{order_id}?error=refused")
            state.runtime.relay.wake()
            return see_other(f"/orders/{order_id}")

        return handle

    def confirm(form: Any, order: OrderView, case: CaseView | None) -> dict[str, Any]:
        return {"order_id": order.order_id}

    def answer(form: Any, order: OrderView, case: CaseView | None) -> dict[str, Any] | None:
        if case is None:
            return None
        return {"case_id": case.case_id, "accept": form.get("accept") == "yes", "note": _note(form)}

    def escalate(form: Any, order: OrderView, case: CaseView | None) -> dict[str, Any] | None:
        return {"case_id": case.case_id, "note": _note(form)} if case is not None else None

    def feedback(form: Any, order: OrderView, case: CaseView | None) -> dict[str, Any] | None:
        if case is None:
            return None
        satisfied = form.get("satisfied") == "yes"
        further = None if satisfied else parse_yuan(str(form.get("amount", "")))
        return {"case_id": case.case_id, "satisfied": satisfied, "comment": _note(form, "comment"),
                "requested": {"amount": further, "currency": case.currency} if further else None}

    def return_shipment(form: Any, order: OrderView, case: CaseView | None) -> dict[str, Any] | None:
        if case is None:
            return None
        return {"case_id": case.case_id, "carrier": str(form.get("carrier", "")).strip()[:64],
                "tracking_no": str(form.get("tracking_no", "")).strip()[:64], "note": _note(form)}

    async def refund_form(request: Request) -> Response:
        buyer = buyer_of(request)
        require(buyer is not None, 401, "forbidden")
        assert buyer is not None
        context = await order_context(state, buyer, request.path_params["order_id"])
        require(context["order"] is not None and context["can_refund"], 404, "not_found")
        return render(state, request, "cashier/refund.html", reasons=[r.value for r in CaseReason], **context)

    async def open_case(request: Request) -> Response:
        form = await checked_form(request)
        buyer = buyer_of(request)
        order_id = request.path_params["order_id"]
        require(buyer is not None, 401, "forbidden")
        assert buyer is not None
        upload = form.get("evidence")
        evidence: list[dict[str, str]] = []
        stored: EvidenceFile | None = None
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read(settings.evidence_max_bytes + 1)
            kind = (upload.content_type or "").split(";")[0]
            if len(content) > settings.evidence_max_bytes or kind not in EVIDENCE_TYPES or not content:
                return see_other(f"/orders/{order_id}/refund?error=evidence")
            digest = hashlib.sha256(content).hexdigest()
            folder = evidence_folder(state)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{digest}{EVIDENCE_TYPES[kind]}").write_bytes(content)
            reference = f"danbao-web://evidence/{digest}{EVIDENCE_TYPES[kind]}"
            stored = EvidenceFile(sha256=digest, reference=reference, content_type=kind, size=len(content), uploaded_by=buyer,
                                  uploaded_at=datetime.now(timezone.utc))
            evidence.append({"reference": reference, "sha256": digest,
                             "description": _note(form, "evidence_description") or "照片 / photo"})
        async with state.db.transaction() as session:
            order = await session.get(OrderView, order_id)
            require(order is not None and order.buyer_id == buyer, 404, "not_found")
            assert order is not None
            fen = parse_yuan(str(form.get("amount", ""))) or order.amount
            case_id = f"C-{uuid.uuid4().hex[:12].upper()}"
            try:
                await state.commands.queue(session, "disputes.case.open", {
                    "case_id": case_id, "order_id": order_id, "reason": str(form.get("reason", "other")),
                    "requested": {"amount": fen, "currency": order.currency},
                    "description": _note(form, "description") or "-", "evidence": evidence,
                }, (ActorKind.BUYER, buyer), key=order_id, correlation_id=f"flow-{order_id}")
            except (ValidationError, ValueError):
                return see_other(f"/orders/{order_id}/refund?error=refused")
            if stored is not None and await session.get(EvidenceFile, stored.sha256) is None:
                session.add(stored)
        state.runtime.relay.wake()
        return see_other(f"/orders/{order_id}")

    return [
        Route("/orders", my_orders), Route("/orders/{order_id}", order_page), Route("/orders/{order_id}/live", live),
        Route("/orders/{order_id}/confirm", action("escrow.receipt.confirm", confirm), methods=["POST"]),
        Route("/orders/{order_id}/counter-offer", action("disputes.counter_offer.answer", answer), methods=["POST"]),
        Route("/orders/{order_id}/escalate", action("disputes.case.escalate", escalate), methods=["POST"]),
        Route("/orders/{order_id}/feedback", action("disputes.feedback.submit", feedback), methods=["POST"]),
        Route("/orders/{order_id}/return", action("disputes.return.record_shipment", return_shipment), methods=["POST"]),
        Route("/orders/{order_id}/refund", refund_form), Route("/orders/{order_id}/refund", open_case, methods=["POST"]),
    ]


def _note(form: Any, name: str = "note") -> str | None:
    text = str(form.get(name, "") or "").strip()
    return text[:1000] or None
