"""What the platform tells whom, and a delivery's life, as pure decisions.

Each event that matters to a person maps to one message per recipient (buyer and/or
merchant) through a template, on the channels the rule names that the recipient can be
reached on. One notification is one (source event, recipient, channel): its id is derived
from those, so the same event handled twice creates nothing new.

    PENDING --channel accepts--> SENT
       |  +--transient failure--> RETRYING --(backoff: base × factor^n, capped)--> ... --> SENT
       |                              +--next attempt past the horizon--> FAILED (horizon_passed)
       +--permanent refusal (e.g. 5xx from the mail server, 4xx from a gateway)--> FAILED (rejected)
    SKIPPED: nobody to send to (no contact registered) — recorded so the log says why.

Transactional messages (money, security, account status) ignore muted channels; optional
updates respect them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.contracts.notifications import Channel, Language, PartyKind

BUYER, MERCHANT = PartyKind.BUYER, PartyKind.MERCHANT
SMS, PUSH, EMAIL, WEBHOOK = Channel.SMS, Channel.PUSH, Channel.EMAIL, Channel.WEBHOOK
DEFAULT_LANGUAGE = Language.ZH_CN
WEBHOOK_TEMPLATE = "event.json"
NO_CHANNEL = "none"


class Category(StrEnum):
    TRANSACTIONAL = "transactional"  # cannot be switched off
    UPDATE = "update"  # respects muted channels


class State(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


OPEN = (State.PENDING, State.RETRYING)


@dataclass(frozen=True)
class Rule:
    """Tell ``role`` about an event with ``template`` on these channels."""

    role: PartyKind
    template: str
    category: Category
    channels: tuple[Channel, ...]


T, U = Category.TRANSACTIONAL, Category.UPDATE


def _rule(role: PartyKind, name: str, category: Category, *channels: Channel) -> Rule:
    return Rule(role, f"{name}.{role.value}", category, channels)


RULES: dict[str, tuple[Rule, ...]] = {
    # payments
    "payments.order.created": (_rule(BUYER, "order_created", U, PUSH), _rule(MERCHANT, "order_created", U, PUSH, EMAIL, WEBHOOK)),
    "payments.payment.succeeded": (_rule(BUYER, "payment_succeeded", T, SMS, PUSH, EMAIL),
                                   _rule(MERCHANT, "payment_succeeded", T, PUSH, EMAIL, WEBHOOK)),
    "payments.payment.failed": (_rule(BUYER, "payment_failed", T, SMS, PUSH),),
    "payments.order.expired": (_rule(BUYER, "order_expired", U, PUSH), _rule(MERCHANT, "order_expired", U, PUSH, WEBHOOK)),
    "payments.order.cancelled": (_rule(BUYER, "order_cancelled", T, SMS, PUSH, EMAIL),
                                 _rule(MERCHANT, "order_cancelled", T, PUSH, EMAIL, WEBHOOK)),
    "payments.order.cancellation_refused": (_rule(BUYER, "cancellation_refused", T, PUSH),),
    "payments.buyer.cancellation_warning": (_rule(BUYER, "cancellation_warning", T, SMS, PUSH),),
    "payments.buyer.restricted": (_rule(BUYER, "buyer_restricted", T, SMS, PUSH, EMAIL),),
    "payments.payout.scheduled": (_rule(MERCHANT, "payout_scheduled", U, PUSH, EMAIL, WEBHOOK),),
    "payments.payout.settled": (_rule(MERCHANT, "payout_settled", T, SMS, PUSH, EMAIL, WEBHOOK),),
    "payments.payout.failed": (_rule(MERCHANT, "payout_failed", T, SMS, PUSH, EMAIL, WEBHOOK),),
    "payments.payment.captured_late": (_rule(BUYER, "payment_captured_late", T, SMS, PUSH, EMAIL),),
    "payments.risk.flagged": (_rule(BUYER, "risk_flagged", T, SMS, PUSH), _rule(MERCHANT, "risk_flagged", T, PUSH, EMAIL, WEBHOOK)),
    "payments.risk.decided": (_rule(BUYER, "risk_decided", T, SMS, PUSH), _rule(MERCHANT, "risk_decided", T, PUSH, EMAIL, WEBHOOK)),
    # escrow
    "escrow.shipment.recorded": (_rule(BUYER, "shipment_recorded", T, SMS, PUSH), _rule(MERCHANT, "shipment_recorded", U, WEBHOOK)),
    "escrow.hold.released": (_rule(BUYER, "hold_released", T, PUSH, EMAIL), _rule(MERCHANT, "hold_released", T, PUSH, EMAIL, WEBHOOK)),
    "escrow.hold.refunded": (_rule(BUYER, "hold_refunded", T, SMS, PUSH, EMAIL), _rule(MERCHANT, "hold_refunded", T, PUSH, WEBHOOK)),
    "escrow.merchant.credited": (_rule(MERCHANT, "merchant_credited", T, PUSH, EMAIL, WEBHOOK),),
    "escrow.refund.paid_out": (_rule(BUYER, "refund_paid_out", T, PUSH, EMAIL),),
    "escrow.direct_order.shipped": (_rule(BUYER, "direct_order_shipped", T, SMS, PUSH),
                                    _rule(MERCHANT, "direct_order_shipped", U, WEBHOOK)),
    "escrow.direct_payment.refunded": (_rule(BUYER, "direct_payment_refunded", T, SMS, PUSH, EMAIL),
                                       _rule(MERCHANT, "direct_payment_refunded", T, PUSH, EMAIL, WEBHOOK)),
    # onboarding (the activation code goes by e-mail only, never to a webhook)
    "onboarding.application.received": (_rule(MERCHANT, "application_received", U, EMAIL),),
    "onboarding.review.required": (_rule(MERCHANT, "review_required", U, EMAIL),),
    "onboarding.documents.requested": (_rule(MERCHANT, "documents_requested", T, SMS, EMAIL),),
    "onboarding.activation.code_issued": (_rule(MERCHANT, "activation_code", T, EMAIL),),
    "onboarding.application.rejected": (_rule(MERCHANT, "application_rejected", T, SMS, EMAIL),),
    "onboarding.merchant.activated": (_rule(MERCHANT, "merchant_activated", T, EMAIL, WEBHOOK),),
    "onboarding.merchant.suspended": (_rule(MERCHANT, "merchant_suspended", T, SMS, EMAIL, WEBHOOK),),
    "onboarding.merchant.reinstated": (_rule(MERCHANT, "merchant_reinstated", T, SMS, EMAIL, WEBHOOK),),
    # disputes (every event names the buyer and the merchant, so nothing is looked up)
    "disputes.case.opened": (_rule(BUYER, "case_opened", U, PUSH), _rule(MERCHANT, "case_opened", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.case.merchant_responded": (_rule(BUYER, "merchant_responded", T, PUSH),),  # an accept or reject: agreed/failed follows
    "disputes.counter_offer.answered": (_rule(MERCHANT, "counter_offer_answered", T, PUSH, EMAIL, WEBHOOK),),
    "disputes.negotiation.agreed": (_rule(BUYER, "negotiation_agreed", T, PUSH, EMAIL),
                                    _rule(MERCHANT, "negotiation_agreed", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.negotiation.failed": (_rule(BUYER, "negotiation_failed", T, SMS, PUSH, EMAIL),),
    "disputes.case.escalated": (_rule(BUYER, "case_escalated", T, PUSH), _rule(MERCHANT, "case_escalated", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.case.arbitration_overdue": (_rule(BUYER, "arbitration_overdue", T, PUSH, EMAIL),
                                          _rule(MERCHANT, "arbitration_overdue", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.case.ruled": (_rule(BUYER, "case_ruled", T, SMS, PUSH, EMAIL), _rule(MERCHANT, "case_ruled", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.return.requested": (_rule(BUYER, "return_requested", T, SMS, PUSH, EMAIL),
                                  _rule(MERCHANT, "return_requested", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.return.shipped": (_rule(MERCHANT, "return_shipped", T, SMS, PUSH, EMAIL, WEBHOOK),),
    "disputes.return.received": (_rule(BUYER, "return_received", T, PUSH),
                                 _rule(MERCHANT, "return_received", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.compensation.granted": (_rule(BUYER, "compensation_granted", T, SMS, PUSH, EMAIL),
                                      _rule(MERCHANT, "compensation_granted", T, PUSH, EMAIL, WEBHOOK)),
    "disputes.verification.started": (_rule(BUYER, "verification_started", U, PUSH, EMAIL),
                                      _rule(MERCHANT, "verification_started", U, EMAIL, WEBHOOK)),
    "disputes.verification.feedback_requested": (_rule(BUYER, "feedback_requested", T, PUSH, EMAIL),),
    "disputes.case.reopened": (_rule(MERCHANT, "case_reopened", T, PUSH, EMAIL, WEBHOOK),),
    "disputes.case.closed": (_rule(BUYER, "case_closed", T, PUSH, EMAIL), _rule(MERCHANT, "case_closed", T, PUSH, EMAIL, WEBHOOK)),
}


def templates() -> set[str]:
    return {rule.template for rules in RULES.values() for rule in rules if set(rule.channels) - {WEBHOOK}}


@dataclass(frozen=True)
class Reach:
    """How a party can be reached, and what it chose (no addresses: those stay encrypted)."""

    phone: bool = False
    email: bool = False
    push: bool = False
    webhook: bool = False
    language: Language = DEFAULT_LANGUAGE
    muted: frozenset[Channel] = frozenset()

    def has(self, channel: Channel) -> bool:
        return {SMS: self.phone, PUSH: self.push, EMAIL: self.email, WEBHOOK: self.webhook}[channel]


@dataclass(frozen=True)
class Planned:
    """One notification to create."""

    notification_id: str
    rule: Rule
    recipient_id: str
    channel: Channel | None  # None: nobody to send to (SKIPPED)
    language: Language
    skipped_reason: str | None = None  # no_contact, no_address


def recipient_of(role: PartyKind, data: dict[str, Any], parties: tuple[str, str] | None) -> str | None:
    """The buyer or merchant an event concerns: named in it, or known from the order."""
    field = f"{role.value}_id"
    if data.get(field):
        return str(data[field])
    if parties is not None:
        merchant_id, buyer_id = parties
        return merchant_id if role is MERCHANT else buyer_id
    return None


def channels_for(rule: Rule, reach: Reach | None) -> list[Channel]:
    """The rule's channels the recipient can be reached on; updates skip muted channels."""
    if reach is None:
        return []
    chosen = [c for c in rule.channels if reach.has(c)]
    if rule.category is Category.UPDATE:
        chosen = [c for c in chosen if c not in reach.muted]
    return chosen


def plan(event_id: str, event_type: str, data: dict[str, Any], parties: tuple[str, str] | None,
         reach: dict[tuple[PartyKind, str], Reach]) -> list[Planned]:
    """Every notification an event causes. ``reach`` has each known recipient's channels."""
    planned: list[Planned] = []
    for rule in RULES.get(event_type, ()):
        recipient = recipient_of(rule.role, data, parties)
        if recipient is None:
            continue
        found = reach.get((rule.role, recipient))
        channels = channels_for(rule, found)
        language = found.language if found else DEFAULT_LANGUAGE
        if not channels:
            # Recorded as skipped when a person could not be reached at all; not when the rule
            # is for webhooks only and none is registered, nor when the person muted an update.
            personal = [c for c in rule.channels if c is not WEBHOOK]
            if personal and (found is None or rule.category is Category.TRANSACTIONAL or not any(found.has(c) for c in personal)):
                planned.append(Planned(notification_id(event_id, rule.role, recipient, None), rule, recipient, None, language,
                                       "no_contact" if found is None else "no_address"))
            continue
        planned += [Planned(notification_id(event_id, rule.role, recipient, c), rule, recipient, c, language) for c in channels]
    return planned


_NAMESPACE = uuid.UUID("8c4c0a52-6f1e-4b7e-9a43-2d0f1c6b9e11")


def notification_id(event_id: str, role: PartyKind, recipient_id: str, channel: Channel | None) -> str:
    """Derived from what makes it unique, so a second handling of the event finds the first."""
    name = f"{event_id}/{role.value}/{recipient_id}/{channel.value if channel else NO_CHANNEL}"
    return "N-" + uuid.uuid5(_NAMESPACE, name).hex[:24]


# -- delivery ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    factor: float
    max_delay_seconds: float
    horizon_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: base × factor^(attempts-1), capped."""
        return timedelta(seconds=min(self.base_seconds * self.factor ** (attempts - 1), self.max_delay_seconds))

    def next_attempt(self, first_attempt_at: datetime, attempts: int, now: datetime) -> datetime | None:
        """When to try again, or None once that would be past the horizon."""
        at = now + self.delay(attempts)
        return at if at <= first_attempt_at + timedelta(seconds=self.horizon_seconds) else None


@dataclass(frozen=True)
class AttemptResult:
    """What a channel said to one attempt. ``detail`` never holds personal data."""

    ok: bool
    detail: str
    permanent: bool = False
    status_code: int | None = None
    reason: str | None = None  # for a permanent failure: why, if not a plain refusal (e.g. no_address)


@dataclass(frozen=True)
class Transition:
    state: State
    next_attempt_at: datetime | None
    reason: str | None = None  # why it failed


def after_attempt(attempts: int, first_attempt_at: datetime, result: AttemptResult, now: datetime, policy: RetryPolicy) -> Transition:
    """The notification's state after its ``attempts``-th attempt."""
    if result.ok:
        return Transition(State.SENT, None)
    if result.permanent:
        return Transition(State.FAILED, None, "rejected")
    again = policy.next_attempt(first_attempt_at, attempts, now)
    if again is None:
        return Transition(State.FAILED, None, "horizon_passed")
    return Transition(State.RETRYING, again)


def http_result(status_code: int, *, webhook: bool) -> AttemptResult:
    """A 2xx is accepted. A webhook is retried on anything else; a gateway refuses for good on a
    4xx (bad number, unknown device) except 408 and 429."""
    if 200 <= status_code < 300:
        return AttemptResult(True, f"HTTP {status_code}", status_code=status_code)
    permanent = not webhook and 400 <= status_code < 500 and status_code not in (408, 429)
    return AttemptResult(False, f"HTTP {status_code}", permanent=permanent, status_code=status_code)
