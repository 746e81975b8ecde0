"""Payments' and escrow's events into the edge's read models: collection codes, orders and their steps, the
ledger, and the refusals of the commands the edge sent. Each handler is a few lines on one unit of work; the
consumer path (shared.consumer) deduplicates and commits them with the inbox."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from shared.envelope import Envelope
from shared.timers import as_utc
from shared.unit_of_work import UnitOfWork
from services.web.store import (CodeView, LedgerEntryView, LedgerLineView, MerchantView, OrderStep, OrderView, RiskReviewView,
                                SentCommand)

Handler = Callable[[UnitOfWork, Envelope], Any]
# Fields of an event's data a step keeps (events carry no personal data; these are what people read).
STEP_FIELDS = ("amount", "fee", "net", "reason", "carrier", "tracking_no", "auto_confirm_at", "method", "failure_reason",
               "requested", "response", "round", "accepted", "decision", "reasons", "arbitrator_id", "outcome", "refunded",
               "remaining", "from_hold", "from_merchant", "shortfall", "message", "respond_by", "escalate_by", "answer_by",
               "satisfied", "rule", "basis", "how", "verified", "note", "party", "by", "case_id", "day3_at", "kind", "rule_by",
               "return_by", "confirm_by", "default_ruling_at", "return_required", "origin", "observed", "threshold", "decision")


def token_digest(token: str) -> str:
    """How a code is found from its URL: the token's SHA-256 (the edge never needs the token back)."""
    return hashlib.sha256(token.encode()).hexdigest()


def step_summary(data: Any) -> str:
    """The event's fields a timeline shows, as JSON (money as fen)."""
    dumped = data.model_dump(mode="json")
    kept = {k: v for k, v in dumped.items() if k in STEP_FIELDS and v is not None}
    proposal = dumped.get("proposal")
    if isinstance(proposal, dict):
        kept["rule"], kept["proposed"] = proposal.get("rule"), proposal.get("decision")
    text = json.dumps(kept, ensure_ascii=False)
    return text if len(text) <= 600 else json.dumps({k: v for k, v in kept.items() if not isinstance(v, str)})


def add_step(uow: UnitOfWork, envelope: Envelope, order_id: str) -> None:
    actor = envelope.actor
    uow.session.add(OrderStep(order_id=order_id, event_id=str(envelope.event_id), type=envelope.type,
                              actor=f"{actor.kind.value}:{actor.id}", summary=step_summary(envelope.data),
                              occurred_at=envelope.occurred_at))


# Payments' and escrow's events come on different topics, so the edge may read a hold before the payment, or (catching
# up after a restart) before the order: an order's status only moves forward, and an event about an order not seen
# yet makes a placeholder that payments.order.created fills in.
STATUS_RANK = {"created": 0, "risk_review": 1, "failed": 1, "paid": 2, "held": 3, "shipped": 4, "released": 5, "completed": 5,
               "refunded": 5, "expired": 5, "cancelled": 5}


def advance(order: OrderView, status: str) -> None:
    if STATUS_RANK[status] >= STATUS_RANK.get(order.status, 0):
        order.status = status


async def order_of(uow: UnitOfWork, data: Any, envelope: Envelope) -> OrderView:
    """The order the event is about; a placeholder (with what the event says of it) if the edge has not read it yet."""
    order = await uow.session.get(OrderView, data.order_id)
    if order is None:
        amount = getattr(data, "amount", None)
        order = OrderView(order_id=data.order_id, merchant_id=getattr(data, "merchant_id", "") or "",
                          buyer_id=getattr(data, "buyer_id", "") or "", amount=amount.amount if amount else 0,
                          currency=amount.currency if amount else "CNY", created_at=envelope.occurred_at,
                          updated_at=envelope.occurred_at)
    return order


def order_step(change: Callable[[OrderView, Any, Envelope], None] | None = None) -> Handler:
    """A handler that records the event as a step of its order and applies ``change`` to the order."""

    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        data = envelope.data
        add_step(uow, envelope, data.order_id)
        if change is not None:
            order = await order_of(uow, data, envelope)
            change(order, data, envelope)
            order.updated_at = max(as_utc(order.updated_at), envelope.occurred_at)
            uow.session.add(order)

    return handle


# -- collection codes ----------------------------------------------------------------------------


async def code_issued(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    code = await uow.session.get(CodeView, data.code_id) or CodeView(code_id=data.code_id, token_digest="", merchant_id="",
                                                                      kind="", channel="", expires_at=data.expires_at)
    code.token_digest, code.merchant_id, code.kind, code.channel = token_digest(data.token), data.merchant_id, data.kind.value, data.channel.value
    code.order_id, code.buyer_id, code.expires_at = data.order_id, data.buyer_id, data.expires_at
    code.amount, code.currency = (data.amount.amount, data.amount.currency) if data.amount else (None, "CNY")
    code.items = json.dumps([i.model_dump(mode="json") for i in data.items], ensure_ascii=False)
    code.guarantee_available, code.merchant_verified = data.guarantee_available, data.merchant_verified
    uow.session.add(code)
    merchant = await uow.session.get(MerchantView, data.merchant_id) or MerchantView(merchant_id=data.merchant_id)
    merchant.verified = data.merchant_verified
    if merchant.status == "unknown":
        merchant.status = "active"
    uow.session.add(merchant)


def code_status(status: str) -> Handler:
    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        code = await uow.session.get(CodeView, envelope.data.code_id)
        if code is not None and (status != "used" or code.kind == "order"):
            code.status = status
            uow.session.add(code)

    return handle


# -- orders --------------------------------------------------------------------------------------


async def order_created(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    order = await order_of(uow, data, envelope)
    order.merchant_id, order.buyer_id, order.code_id = data.merchant_id, data.buyer_id, data.collection_code_id
    order.amount, order.currency, order.guaranteed = data.amount.amount, data.amount.currency, data.guaranteed
    order.items = json.dumps([i.model_dump(mode="json") for i in data.items], ensure_ascii=False)
    order.created_at = envelope.occurred_at
    uow.session.add(order)
    add_step(uow, envelope, data.order_id)


def _status(status: str) -> Callable[[OrderView, Any, Envelope], None]:
    def change(order: OrderView, data: Any, envelope: Envelope) -> None:
        advance(order, status)

    return change


def _paid(order: OrderView, data: Any, envelope: Envelope) -> None:
    order.fee = data.fee
    advance(order, "paid")


def _failed(order: OrderView, data: Any, envelope: Envelope) -> None:
    if STATUS_RANK.get(order.status, 0) <= STATUS_RANK["failed"]:
        order.status, order.failure = "failed", str(data.reason)[:200]


def _shipped(order: OrderView, data: Any, envelope: Envelope) -> None:
    order.carrier, order.tracking_no, order.auto_confirm_at = data.carrier, data.tracking_no, data.auto_confirm_at
    advance(order, "shipped")


def _refunded(order: OrderView, data: Any, envelope: Envelope) -> None:
    if data.reason != "case_refund":  # a case's refund is counted once, by escrow.case_refund.executed
        order.refunded += data.amount.amount
    if data.remaining == 0 and order.status != "released":
        advance(order, "refunded")


def _frozen(order: OrderView, data: Any, envelope: Envelope) -> None:
    order.frozen = True


def _unfrozen(order: OrderView, data: Any, envelope: Envelope) -> None:
    order.frozen = False
    if data.auto_confirm_at is not None:
        order.auto_confirm_at = data.auto_confirm_at


def _case_refund(order: OrderView, data: Any, envelope: Envelope) -> None:
    order.refunded += data.from_hold + data.from_merchant


def _compensated(order: OrderView, data: Any, envelope: Envelope) -> None:
    order.refunded += data.amount.amount


def _paid_out(order: OrderView, data: Any, envelope: Envelope) -> None:
    order.refund_paid += data.amount.amount


# -- risk reviews ----------------------------------------------------------------------------------


async def risk_flagged(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    if data.order_id:
        add_step(uow, envelope, data.order_id)
        if data.outcome.value == "review":
            order = await order_of(uow, data, envelope)
            advance(order, "risk_review")
            uow.session.add(order)
    if await uow.session.get(RiskReviewView, data.review_id) is None:
        uow.session.add(RiskReviewView(
            review_id=data.review_id, subject=data.subject.value, subject_id=data.subject_id, order_id=data.order_id,
            payout_id=data.payout_id, merchant_id=data.merchant_id, buyer_id=data.buyer_id, rule=data.rule,
            outcome=data.outcome.value, observed=data.observed, threshold=data.threshold,
            window_minutes=data.window_minutes, detail=data.detail[:500], flagged_at=envelope.occurred_at))


async def risk_decided(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    review = await uow.session.get(RiskReviewView, data.review_id)
    if review is not None:
        review.decision, review.decided_by, review.note, review.decided_at = data.decision.value, data.by, data.note[:500], data.decided_at
        uow.session.add(review)
        if review.order_id:
            add_step(uow, envelope, review.order_id)


# -- the ledger and refusals ---------------------------------------------------------------------


async def entry_posted(uow: UnitOfWork, envelope: Envelope) -> None:
    data = envelope.data
    if await uow.session.get(LedgerEntryView, data.entry_id) is not None:
        return  # the same entry announced again
    uow.session.add(LedgerEntryView(entry_id=data.entry_id, order_id=data.order_id, kind=data.kind, currency=data.currency,
                                    posted_at=envelope.occurred_at))
    for line in data.lines:
        uow.session.add(LedgerLineView(entry_id=data.entry_id, account=line.account, currency=data.currency, amount=line.amount))


async def command_rejected(uow: UnitOfWork, envelope: Envelope) -> None:
    """A refusal of a command this edge sent: kept, so the person who asked sees why."""
    data = envelope.data
    sent = await uow.session.get(SentCommand, data.command_event_id)
    if sent is not None:
        sent.rejected, sent.detail = data.reason[:64], data.detail[:1000]
        uow.session.add(sent)


def payments_handlers(types: Iterable[str]) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "payments.collection.issued": code_issued,
        "payments.collection.redeemed": code_status("used"),
        "payments.collection.revoked": code_status("revoked"),
        "payments.order.created": order_created,
        "payments.intent.created": order_step(),
        "payments.payment.succeeded": order_step(_paid),
        "payments.payment.failed": order_step(_failed),
        "payments.payment.captured_late": order_step(),
        "payments.order.expired": order_step(_status("expired")),
        "payments.order.cancelled": order_step(_status("cancelled")),
        "payments.refund.requested": order_step(),
        "payments.risk.flagged": risk_flagged,
        "payments.risk.decided": risk_decided,
        "payments.command.rejected": command_rejected,
    }
    return _known(handlers, types)


def escrow_handlers(types: Iterable[str]) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "escrow.hold.created": order_step(_status("held")),
        "escrow.shipment.recorded": order_step(_shipped),
        "escrow.hold.released": order_step(_status("released")),
        "escrow.hold.refunded": order_step(_refunded),
        "escrow.hold.frozen": order_step(_frozen),
        "escrow.hold.unfrozen": order_step(_unfrozen),
        "escrow.case_refund.executed": order_step(_case_refund),
        "escrow.compensation.paid": order_step(_compensated),
        "escrow.refund.paid_out": order_step(_paid_out),
        "escrow.merchant.credited": order_step(_status("completed")),
        "escrow.late_capture.booked": order_step(),
        "escrow.ledger.entry_posted": entry_posted,
        "escrow.command.rejected": command_rejected,
    }
    return _known(handlers, types)


def _known(handlers: dict[str, Handler], types: Iterable[str]) -> dict[str, Handler]:
    """Only types the topic's contract carries (a test keeps the two in step)."""
    known = set(types)
    missing = sorted(set(handlers) - known)
    if missing:
        raise LookupError(f"no contract carries {missing}")
    return handlers

