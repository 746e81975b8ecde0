"""Merchant applications as a pure state machine.

    (apply) --> CHECKING --registry: active, name matches, low risk--> APPROVED --code--> ACTIVE <--> SUSPENDED
                   |  +--name differs / higher risk--> MANUAL_REVIEW --reviewer--> APPROVED | REJECTED
                   |                                      ^  +--reviewer asks for documents--> DOCUMENTS_REQUESTED
                   |                                      +-------------documents arrive--------------+
                   +--revoked / deregistered / not found / duplicate--> REJECTED (may apply again)

A registry that does not answer is asked 3 times, 30 s apart, then the application goes to a
reviewer. A review is due by 18:00 China time on the 3rd business day (Chinese holiday calendar);
past that it is escalated. Where the calendar has no data for the year the count reaches, it is due
on the 3rd calendar day instead (earlier, never later; the calendar logs and counts the refusal).

Risk score, documented rules (0-100; automatic approval below 30):
+40 the registered name differs from the applied one; +30 no business licence image;
+20 an industry the fee schedule does not know; +10 an individual business.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone
from enum import StrEnum

from services.onboarding import validation as v
from shared.contracts.onboarding import (
    ActivateMerchant,
    ActivationCodeIssued,
    ReissueActivationCode,
    ApplicationApproved,
    ApplicationReceived,
    ApplicationRejected,
    ApplyForMerchant,
    CheckResult,
    ChecksCompleted,
    DecideReview,
    DocumentKind,
    DocumentsRequested,
    MerchantActivated,
    MerchantReinstated,
    MerchantSuspended,
    MerchantType,
    ReviewDecisionKind,
    ReviewEscalated,
    ReviewRequired,
    SettlementAccountKind,
    SubmitDocuments,
)
from shared.contracts.registry import CompanyFound, LookupCompany, RegistryStatus
from shared.business_days import CHINA, CalendarUnavailable, business_days_later
from shared.envelope import Actor, ActorKind, Payload
from shared.pii import mask_bank_account, mask_email, mask_id_number, mask_phone
from shared.unit_of_work import Rejected

KNOWN_INDUSTRIES = {"retail", "food", "digital_goods", "services", "education", "travel"}
AUTO_APPROVE_BELOW = 30
ACTIVATION_VALID = timedelta(days=7)
REGISTRY_WAIT = timedelta(seconds=30)
REGISTRY_ATTEMPTS = 3
REVIEW_SLA_BUSINESS_DAYS = 3


class Status(StrEnum):
    CHECKING = "checking"
    MANUAL_REVIEW = "manual_review"
    DOCUMENTS_REQUESTED = "documents_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class Application:
    merchant_id: str
    merchant_type: MerchantType
    legal_name: str
    credit_code: str
    industry: str
    has_licence: bool
    email_masked: str
    status: Status = Status.CHECKING
    verified: bool = False
    risk_score: int = 0
    activation_code_hash: str | None = None
    activation_expires_at: datetime | None = None
    lookups: int = 0
    review_due_at: datetime | None = None
    settlement_account_kind: SettlementAccountKind = SettlementAccountKind.CORPORATE
    settlement_account_ref: str | None = None  # given at activation


@dataclass(frozen=True)
class VerifiedAccount:
    """The settlement account activation announces: the number masked, and sealed for the bank by the handler."""

    ref: str
    masked: str
    kind: SettlementAccountKind
    sealed: str


def account_kind(command: ApplyForMerchant) -> SettlementAccountKind:
    """As applied for; by default an enterprise settles to a corporate account, an individual business to a card."""
    if command.settlement_account_kind is not None:
        return command.settlement_account_kind
    if command.merchant_type is MerchantType.ENTERPRISE:
        return SettlementAccountKind.CORPORATE
    return SettlementAccountKind.PERSONAL_CARD


@dataclass(frozen=True)
class Decision:
    application: Application | None
    events: list[Payload]


def field_problems(command: ApplyForMerchant, today: datetime) -> list[str]:
    """Every invalid field, named, with its reason."""
    checks = {
        "credit_code": v.check_uscc(command.credit_code),
        "legal_rep_name": v.check_name(command.legal_rep_name),
        "legal_rep_id_number": v.check_id_number(command.legal_rep_id_number, today.date()),
        "settlement_account": v.check_settlement_account(command.settlement_account, account_kind(command)),
        "phone": v.check_phone(command.phone),
        "email": v.check_email(command.email),
    }
    return [f"{name}: {reason}" for name, reason in checks.items() if reason]


def apply(existing: Application | None, command: ApplyForMerchant, actor: Actor, now: datetime,
          credit_code_taken: bool) -> Decision:
    if actor.kind is not ActorKind.MERCHANT or actor.id != command.merchant_id:
        raise Rejected("forbidden", "a merchant applies for its own account only", command.merchant_id)
    if existing is not None and existing.status is not Status.REJECTED:
        raise Rejected("already_applied", f"the application is {existing.status.value}", command.merchant_id)
    problems = field_problems(command, now)
    if problems:
        raise Rejected("invalid_fields", "; ".join(problems), command.merchant_id)
    application = Application(
        merchant_id=command.merchant_id, merchant_type=command.merchant_type, legal_name=command.legal_name,
        credit_code=command.credit_code, industry=command.industry, email_masked=mask_email(command.email),
        has_licence=any(d.kind is DocumentKind.BUSINESS_LICENCE for d in command.documents),
        settlement_account_kind=account_kind(command),
    )
    received = ApplicationReceived(
        merchant_id=command.merchant_id, merchant_type=command.merchant_type, legal_name=command.legal_name,
        credit_code=command.credit_code, phone_masked=mask_phone(command.phone), email_masked=application.email_masked,
        id_number_masked=mask_id_number(command.legal_rep_id_number),
        settlement_account_masked=mask_bank_account(command.settlement_account),
        settlement_account_kind=application.settlement_account_kind, industry=command.industry,
    )
    if credit_code_taken:
        formats = CheckResult(name="formats", passed=True, reason="all fields valid")
        duplicate = CheckResult(name="duplicate", passed=False, reason="this credit code belongs to an active merchant")
        return Decision(replace(application, status=Status.REJECTED), [
            received, ChecksCompleted(merchant_id=command.merchant_id, checks=[formats, duplicate], risk_score=100, outcome="rejected"),
            ApplicationRejected(merchant_id=command.merchant_id, reasons=[duplicate.reason])])
    checking = replace(application, lookups=1)
    return Decision(checking, [received, LookupCompany(merchant_id=command.merchant_id, credit_code=command.credit_code)])


def registry_silent(application: Application | None, now: datetime) -> Decision:
    """The registry did not answer in time: ask again, and after the last attempt hand it to a reviewer."""
    if application is None or application.status is not Status.CHECKING:
        return Decision(application, [])
    if application.lookups < REGISTRY_ATTEMPTS:
        return Decision(replace(application, lookups=application.lookups + 1), [
            LookupCompany(merchant_id=application.merchant_id, credit_code=application.credit_code)])
    reason = f"the credit registry did not answer after {REGISTRY_ATTEMPTS} attempts"
    checks = [CheckResult(name="formats", passed=True, reason="all fields valid"),
              CheckResult(name="duplicate", passed=True, reason="no active merchant has this credit code"),
              CheckResult(name="registry", passed=False, reason=reason)]
    return _to_review(application, checks, risk(application, False), [reason], now)


def risk(application: Application, name_matches: bool) -> int:
    score = 0 if name_matches else 40
    score += 0 if application.has_licence else 30
    score += 0 if application.industry in KNOWN_INDUSTRIES else 20
    score += 10 if application.merchant_type is MerchantType.INDIVIDUAL_BUSINESS else 0
    return min(score, 100)


@dataclass(frozen=True)
class NewCode:
    """A fresh activation code: onboarding keeps its hash; notifications gets it sealed, to e-mail."""

    plain: str
    sealed: str


def registry_answered(application: Application | None, found: CompanyFound, now: datetime, code: NewCode) -> Decision:
    if application is None or application.status is not Status.CHECKING or found.credit_code != application.credit_code:
        return Decision(application, [])
    checks = [CheckResult(name="formats", passed=True, reason="all fields valid"),
              CheckResult(name="duplicate", passed=True, reason="no active merchant has this credit code")]
    mid = application.merchant_id
    if found.status is not RegistryStatus.ACTIVE:
        reason = {RegistryStatus.REVOKED: "company registration revoked (吊销)",
                  RegistryStatus.DEREGISTERED: "company deregistered (注销)",
                  RegistryStatus.NOT_FOUND: "credit code not found in the registry"}[found.status]
        checks.append(CheckResult(name="registry", passed=False, reason=reason))
        return Decision(replace(application, status=Status.REJECTED), [
            ChecksCompleted(merchant_id=mid, checks=checks, risk_score=100, outcome="rejected"),
            ApplicationRejected(merchant_id=mid, reasons=[reason])])
    name_matches = (found.registered_name or "").strip() == application.legal_name.strip()
    checks.append(CheckResult(name="registry", passed=name_matches, reason="registered and active" if name_matches
                              else f"registered name differs: {found.registered_name}"))
    score = risk(application, name_matches)
    checks.append(CheckResult(name="risk", passed=score < AUTO_APPROVE_BELOW, reason=f"score {score}"))
    checked = replace(application, risk_score=score, verified=name_matches)
    if score < AUTO_APPROVE_BELOW:
        approved = _approve(checked, "automatic", now, code)
        return Decision(approved.application, [ChecksCompleted(merchant_id=mid, checks=checks, risk_score=score,
                                                               outcome="approved"), *approved.events])
    return _to_review(checked, checks, score, [c.reason for c in checks if not c.passed], now)


def review_due(now: datetime) -> datetime:
    """18:00 China time on the 3rd business day after ``now``; on the 3rd calendar day where a year has no holiday data."""
    try:
        return business_days_later(now, REVIEW_SLA_BUSINESS_DAYS, at=time(18, 0))
    except CalendarUnavailable:
        day = now.astimezone(CHINA).date() + timedelta(days=REVIEW_SLA_BUSINESS_DAYS)
        return datetime.combine(day, time(18, 0), tzinfo=CHINA).astimezone(timezone.utc)


def _to_review(application: Application, checks: list[CheckResult], score: int, reasons: list[str], now: datetime) -> Decision:
    due = review_due(now)
    mid = application.merchant_id
    return Decision(replace(application, status=Status.MANUAL_REVIEW, risk_score=score, review_due_at=due), [
        ChecksCompleted(merchant_id=mid, checks=checks, risk_score=score, outcome="manual_review"),
        ReviewRequired(merchant_id=mid, reasons=reasons, due_at=due)])


def review_overdue(application: Application | None) -> Decision:
    """The review SLA passed with no decision: escalate (once)."""
    if application is None or application.status is not Status.MANUAL_REVIEW or application.review_due_at is None:
        return Decision(application, [])
    return Decision(application, [ReviewEscalated(merchant_id=application.merchant_id, due_at=application.review_due_at,
                                                  business_days=REVIEW_SLA_BUSINESS_DAYS)])


def decide_review(application: Application | None, command: DecideReview, actor: Actor, now: datetime, code: NewCode) -> Decision:
    if actor.kind is not ActorKind.REVIEWER:
        raise Rejected("forbidden", "only a reviewer decides a review", command.merchant_id)
    if application is None or application.status is not Status.MANUAL_REVIEW:
        raise Rejected("not_in_review", "the application is not waiting for a review", command.merchant_id)
    if command.decision is ReviewDecisionKind.APPROVE:
        return _approve(application, actor.id, now, code)
    if not command.reasons:
        raise Rejected("reasons_required", f"{command.decision.value} needs reasons", command.merchant_id)
    if command.decision is ReviewDecisionKind.REQUEST_DOCUMENTS:
        return Decision(replace(application, status=Status.DOCUMENTS_REQUESTED),
                        [DocumentsRequested(merchant_id=application.merchant_id, reasons=command.reasons, by=actor.id)])
    return Decision(replace(application, status=Status.REJECTED),
                    [ApplicationRejected(merchant_id=application.merchant_id, reasons=command.reasons, by=actor.id)])


def documents_submitted(application: Application | None, command: SubmitDocuments, actor: Actor, now: datetime) -> Decision:
    """The asked-for documents arrived: back to the reviewer, with a fresh SLA."""
    if actor.kind is not ActorKind.MERCHANT or actor.id != command.merchant_id:
        raise Rejected("forbidden", "a merchant sends its own documents only", command.merchant_id)
    if application is None or application.status is not Status.DOCUMENTS_REQUESTED:
        raise Rejected("no_documents_requested", "no reviewer asked for documents", command.merchant_id)
    has_licence = application.has_licence or any(d.kind is DocumentKind.BUSINESS_LICENCE for d in command.documents)
    resumed = replace(application, has_licence=has_licence)
    due = review_due(now)
    return Decision(replace(resumed, status=Status.MANUAL_REVIEW, review_due_at=due), [
        ReviewRequired(merchant_id=application.merchant_id, reasons=["documents resubmitted"], due_at=due)])


def activate(application: Application | None, command: ActivateMerchant, actor: Actor, now: datetime,
             account: VerifiedAccount | None = None) -> Decision:
    """The right code activates the merchant, announcing the settlement account verified at onboarding (``account``)."""
    if actor.kind is not ActorKind.MERCHANT or actor.id != command.merchant_id:
        raise Rejected("forbidden", "a merchant activates its own account only", command.merchant_id)
    if application is None or application.status is not Status.APPROVED:
        raise Rejected("not_approved", "there is no approved application to activate", command.merchant_id)
    if application.activation_expires_at and now > application.activation_expires_at:
        raise Rejected("code_expired", "the activation code has expired", command.merchant_id)
    if code_hash(command.activation_code) != application.activation_code_hash:
        raise Rejected("wrong_code", "the activation code is wrong", command.merchant_id)
    active = replace(application, status=Status.ACTIVE, activation_code_hash=None,
                     settlement_account_ref=account.ref if account else application.settlement_account_ref)
    announced = dict(settlement_account_ref=account.ref, settlement_account_masked=account.masked,
                     settlement_account_kind=account.kind, sealed_settlement_account=account.sealed) if account else {}
    return Decision(active, [MerchantActivated(merchant_id=application.merchant_id, industry=application.industry,
                                               verified=application.verified, **announced)])


def reissue(application: Application | None, command: ReissueActivationCode, actor: Actor, now: datetime, code: NewCode) -> Decision:
    """A new code for an approved, not yet active merchant (its own request, or an operator's); the old code stops working."""
    own = actor.kind is ActorKind.MERCHANT and actor.id == command.merchant_id
    if not (own or actor.kind is ActorKind.OPERATOR):
        raise Rejected("forbidden", "the merchant itself or an operator asks for a new activation code", command.merchant_id)
    if application is None or application.status is not Status.APPROVED:
        state = "no application" if application is None else f"the application is {application.status.value}"
        raise Rejected("not_approved", f"only an approved merchant awaiting activation gets a new code: {state}", command.merchant_id)
    expires = now + ACTIVATION_VALID
    return Decision(replace(application, activation_code_hash=code_hash(code.plain), activation_expires_at=expires), [
        ActivationCodeIssued(merchant_id=application.merchant_id, sealed_code=code.sealed,
                             email_masked=application.email_masked, expires_at=expires)])


def suspend(application: Application | None, merchant_id: str, reason: str, actor: Actor) -> Decision:
    _operator(actor, merchant_id)
    if application is None or application.status is not Status.ACTIVE:
        raise Rejected("not_active", "only an active merchant can be suspended", merchant_id)
    return Decision(replace(application, status=Status.SUSPENDED), [MerchantSuspended(merchant_id=merchant_id, reason=reason, by=actor.id)])


def reinstate(application: Application | None, merchant_id: str, reason: str, actor: Actor) -> Decision:
    _operator(actor, merchant_id)
    if application is None or application.status is not Status.SUSPENDED:
        raise Rejected("not_suspended", "only a suspended merchant can be reinstated", merchant_id)
    return Decision(replace(application, status=Status.ACTIVE), [MerchantReinstated(merchant_id=merchant_id, reason=reason, by=actor.id)])


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _approve(application: Application, by: str, now: datetime, code: NewCode) -> Decision:
    expires = now + ACTIVATION_VALID
    approved = replace(application, status=Status.APPROVED, activation_code_hash=code_hash(code.plain), activation_expires_at=expires)
    return Decision(approved, [
        ApplicationApproved(merchant_id=application.merchant_id, verified=application.verified, by=by),
        ActivationCodeIssued(merchant_id=application.merchant_id, sealed_code=code.sealed,
                             email_masked=application.email_masked, expires_at=expires)])


def _operator(actor: Actor, merchant_id: str) -> None:
    if actor.kind is not ActorKind.OPERATOR:
        raise Rejected("forbidden", "only an operator suspends or reinstates merchants", merchant_id)
