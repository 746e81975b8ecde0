"""The web edge's own tables: read models built from the platform's events (codes, merchants and their
applications, orders and their steps, cases, dead letters, the ledger, the staff roster), and what the edge itself
keeps (buyers' accounts, sign-in codes, the commands it sent, evidence files). No other service's database is read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession


def _when(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class CodeView(SQLModel, table=True):
    """A collection code, from payments.collection.issued / redeemed / revoked; found by its token's digest."""

    __tablename__ = "web_code"

    code_id: str = Field(primary_key=True, max_length=64)
    token_digest: str = Field(index=True, unique=True, max_length=64)
    merchant_id: str = Field(max_length=64)
    kind: str = Field(max_length=8)
    channel: str = Field(max_length=16)
    order_id: str | None = Field(default=None, max_length=64)
    amount: int | None = None
    currency: str = Field(default="CNY", max_length=3)
    items: str = Field(default="[]")  # JSON list of {sku, name, quantity, unit_price}
    buyer_id: str | None = Field(default=None, max_length=64)
    guarantee_available: bool = True
    merchant_verified: bool = False
    status: str = Field(default="active", max_length=16)
    expires_at: datetime = _when(nullable=False)

    def item_list(self) -> list[dict[str, Any]]:
        return list(json.loads(self.items))


class MerchantView(SQLModel, table=True):
    """A merchant and its application, from onboarding's events (and payments' codes for the badge)."""

    __tablename__ = "web_merchant"

    merchant_id: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=100)
    verified: bool = False
    industry: str | None = Field(default=None, max_length=32)
    status: str = Field(default="unknown", max_length=24, index=True)
    merchant_type: str | None = Field(default=None, max_length=32)
    credit_code: str | None = Field(default=None, max_length=18)
    phone_masked: str | None = Field(default=None, max_length=32)
    email_masked: str | None = Field(default=None, max_length=100)
    checks: str = Field(default="[]")  # JSON list of {name, passed, reason}
    risk_score: int | None = None
    review_reasons: str = Field(default="[]")
    due_at: datetime | None = _when()
    escalated: bool = False
    decided_by: str | None = Field(default=None, max_length=64)
    decision_reasons: str = Field(default="[]")
    applied_at: datetime | None = _when()

    def check_list(self) -> list[dict[str, Any]]:
        return list(json.loads(self.checks))

    def reasons(self) -> list[str]:
        return list(json.loads(self.review_reasons))


class OrderView(SQLModel, table=True):
    """An order as its buyer follows it: payments' and escrow's events."""

    __tablename__ = "web_order"

    order_id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(index=True, max_length=64)
    code_id: str | None = Field(default=None, max_length=64)
    amount: int = 0
    currency: str = Field(default="CNY", max_length=3)
    items: str = Field(default="[]")
    guaranteed: bool = True
    status: str = Field(default="created", max_length=24)
    fee: int | None = None
    failure: str | None = Field(default=None, max_length=200)
    carrier: str | None = Field(default=None, max_length=64)
    tracking_no: str | None = Field(default=None, max_length=64)
    auto_confirm_at: datetime | None = _when()
    frozen: bool = False
    refunded: int = 0
    refund_paid: int = 0
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)

    def item_list(self) -> list[dict[str, Any]]:
        return list(json.loads(self.items))


class OrderStep(SQLModel, table=True):
    """One event about an order, for its timeline (the cashier's and the case desk's)."""

    __tablename__ = "web_order_step"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True, max_length=64)
    event_id: str = Field(unique=True, max_length=64)
    type: str = Field(max_length=100)
    actor: str = Field(max_length=80)
    summary: str = Field(default="", max_length=600)
    occurred_at: datetime = _when(nullable=False)


class CaseView(SQLModel, table=True):
    """A refund case, from disputes' events."""

    __tablename__ = "web_case"

    case_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(index=True, max_length=64)
    buyer_id: str = Field(index=True, max_length=64)
    merchant_id: str = Field(max_length=64)
    reason: str = Field(max_length=32)
    description: str = Field(default="", max_length=2000)
    currency: str = Field(default="CNY", max_length=3)
    requested: int = 0
    paid: int = 0
    status: str = Field(default="awaiting_merchant", max_length=32, index=True)
    round: int = 1
    respond_by: datetime | None = _when()
    counter_offer: int | None = None
    escalate_by: datetime | None = _when()
    evidence: str = Field(default="[]")  # JSON list of {reference, sha256, description, party}
    proposal: str | None = None  # JSON RuleProposal
    rule_by: datetime | None = _when()  # the arbitration deadline
    overdue: bool = False  # past it: in the supervisors' queue
    default_ruling_at: datetime | None = _when()
    return_by: datetime | None = _when()  # a ruling on return: the buyer sends the goods back by then
    confirm_by: datetime | None = _when()  # and the merchant confirms they arrived by then
    return_tracking: str | None = Field(default=None, max_length=140)
    decision: str | None = Field(default=None, max_length=32)
    ruled_amount: int | None = None
    ruling_reasons: str | None = Field(default=None, max_length=2000)
    arbitrator_id: str | None = Field(default=None, max_length=64)
    agreed_amount: int | None = None
    refunded: int = 0
    feedback_until: datetime | None = _when()
    satisfied: bool | None = None
    outcome: str | None = Field(default=None, max_length=32)
    opened_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)

    def evidence_list(self) -> list[dict[str, Any]]:
        return list(json.loads(self.evidence))

    def proposal_dict(self) -> dict[str, Any] | None:
        return json.loads(self.proposal) if self.proposal else None


class DeadLetterView(SQLModel, table=True):
    """A service's dead letter (reason and where it came from; never its content) and its replays."""

    __tablename__ = "web_dead_letter"

    dead_letter_id: str = Field(primary_key=True, max_length=64)
    service: str = Field(index=True, max_length=32)
    reason: str = Field(max_length=64)
    detail: str = Field(default="", max_length=4000)
    source_topic: str = Field(max_length=200)
    source_partition: int = 0
    source_offset: int = 0
    source_key: str | None = Field(default=None, max_length=200)
    recorded_at: datetime = _when(nullable=False)
    replayed_by: str | None = Field(default=None, max_length=64)
    replay_outcome: str | None = Field(default=None, max_length=32)


class RiskReviewView(SQLModel, table=True):
    """A risk rule that fired (payments.risk.flagged): a review waits for an operator; a block is for the record."""

    __tablename__ = "web_risk_review"

    review_id: str = Field(primary_key=True, max_length=100)
    subject: str = Field(max_length=16)
    subject_id: str = Field(max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    payout_id: str | None = Field(default=None, max_length=64)
    merchant_id: str = Field(max_length=64)
    buyer_id: str | None = Field(default=None, max_length=64)
    rule: str = Field(max_length=64)
    outcome: str = Field(max_length=16, index=True)
    observed: int
    threshold: int
    window_minutes: int
    detail: str = Field(default="", max_length=500)
    flagged_at: datetime = _when(nullable=False)
    decision: str | None = Field(default=None, max_length=16, index=True)
    decided_by: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)
    decided_at: datetime | None = _when()


class LedgerEntryView(SQLModel, table=True):
    __tablename__ = "web_ledger_entry"

    entry_id: str = Field(primary_key=True, max_length=64)
    order_id: str | None = Field(default=None, index=True, max_length=64)
    kind: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    posted_at: datetime = _when(nullable=False)


class LedgerLineView(SQLModel, table=True):
    __tablename__ = "web_ledger_line"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(index=True, max_length=64)
    account: str = Field(index=True, max_length=128)
    currency: str = Field(max_length=3)
    amount: int


class StaffRole(SQLModel, table=True):
    """The roster as the services announce it (control.roster.changed); the development staff in dev and test mode."""

    __tablename__ = "web_staff_role"

    principal_id: str = Field(primary_key=True, max_length=64)
    role: str = Field(primary_key=True, max_length=32)


class BuyerAccount(SQLModel, table=True):
    """A buyer who signed in with a phone: the id is derived from the phone (HMAC), the phone kept encrypted."""

    __tablename__ = "web_buyer"

    buyer_id: str = Field(primary_key=True, max_length=64)
    phone_encrypted: str = Field(max_length=400)
    phone_masked: str = Field(max_length=16)
    created_at: datetime = _when(nullable=False)
    signed_in_at: datetime = _when(nullable=False)


class SignInCode(SQLModel, table=True):
    """A one-time code sent by SMS: only its HMAC is kept."""

    __tablename__ = "web_sign_in_code"

    challenge_id: str = Field(primary_key=True, max_length=64)
    buyer_id: str = Field(index=True, max_length=64)
    phone_encrypted: str = Field(max_length=400)  # becomes the account's when the code is right
    code_digest: str = Field(max_length=64)
    attempts: int = 0
    used: bool = False
    created_at: datetime = _when(nullable=False)
    expires_at: datetime = _when(nullable=False)


class SentCommand(SQLModel, table=True):
    """A command this edge signed and queued, and its refusal if one came back."""

    __tablename__ = "web_command"

    event_id: str = Field(primary_key=True, max_length=64)
    type: str = Field(max_length=100)
    aggregate_id: str = Field(index=True, max_length=64)
    actor_kind: str = Field(max_length=16)
    actor_id: str = Field(max_length=64)
    sent_at: datetime = _when(nullable=False)
    rejected: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=1000)


class EvidenceFile(SQLModel, table=True):
    """An evidence file a buyer uploaded: the case records its SHA-256, the file stays here."""

    __tablename__ = "web_evidence"

    sha256: str = Field(primary_key=True, max_length=64)
    reference: str = Field(max_length=300)
    content_type: str = Field(max_length=64)
    size: int
    uploaded_by: str = Field(max_length=64)
    uploaded_at: datetime = _when(nullable=False)


TABLES: list[type[SQLModel]] = [CodeView, MerchantView, OrderView, OrderStep, CaseView, DeadLetterView, RiskReviewView, LedgerEntryView,
                                LedgerLineView, StaffRole, BuyerAccount, SignInCode, SentCommand, EvidenceFile]


# -- queries -------------------------------------------------------------------------------------


async def steps_of(session: AsyncSession, order_id: str) -> list[OrderStep]:
    return list((await session.exec(select(OrderStep).where(OrderStep.order_id == order_id)
                                     .order_by(col(OrderStep.occurred_at), col(OrderStep.id)))).all())


async def rejections_of(session: AsyncSession, aggregate_id: str, since: datetime | None = None) -> list[SentCommand]:
    query = select(SentCommand).where(SentCommand.aggregate_id == aggregate_id, col(SentCommand.rejected).is_not(None))
    if since is not None:
        query = query.where(col(SentCommand.sent_at) >= since)
    return list((await session.exec(query.order_by(col(SentCommand.sent_at)))).all())


async def roles_of(session: AsyncSession, principal_id: str) -> set[str]:
    return set((await session.exec(select(StaffRole.role).where(StaffRole.principal_id == principal_id))).all())


async def balances(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(account, currency, balance) of every account, debits positive."""
    rows = await session.exec(select(LedgerLineView.account, LedgerLineView.currency, func.sum(LedgerLineView.amount))
                              .group_by(LedgerLineView.account, LedgerLineView.currency)
                              .order_by(LedgerLineView.account))
    return [(account, currency, int(total)) for account, currency, total in rows.all()]
