"""Payouts (withdrawals), pure: (payout, event, now) -> (payout, events).

    REQUESTED --escrow reserved--> SCHEDULED --T+N business days--> SENT --bank settled--> SETTLED
        |            |                 |                              +---bank failed---> FAILED (money returned)
        |            |                 +--merchant suspended / payouts held / account changed--> FAILED (money returned)
        |            +--no holiday data for the year T+N reaches--> FAILED (money returned)
        +--escrow declined (balance short)--> FAILED

A payout goes only to the settlement account verified at onboarding (``PayoutAccount``, announced by
``onboarding.merchant.activated``), recorded on the payout when it is requested. It is refused while the
merchant is suspended or its payouts are held (``payouts_held``: the hook a risk review sets), and for a
merchant whose verified account payments does not know. N (1 to 3) comes from the payout schedule
(``PayoutRule``): the first rule matching the account kind and the amount; T+1 when none does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.bank import TransferCompleted, TransferRequested, TransferStatus
from shared.contracts.payments import PayoutFailed, PayoutRequested, PayoutScheduled, PayoutSettled, RequestPayout
from shared.contracts.settlement import SettlementAccountKind
from shared.envelope import Actor, ActorKind, Payload
from shared.money import CNY, Money
from shared.unit_of_work import Rejected

DEFAULT_BUSINESS_DAYS = 1


class PayoutStatus(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    SENT = "sent"
    SETTLED = "settled"
    FAILED = "failed"


class PayoutRule(BaseModel):
    """One row of the payout schedule: payouts to this kind of account, up to this amount, go out T+N."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: SettlementAccountKind | None = Field(default=None, description="`personal_card`, `corporate`, or absent: any.")
    max_amount: int | None = Field(default=None, ge=1, description="Largest amount in fen (inclusive); absent: any amount.")
    business_days: int = Field(ge=1, le=3, description="N of T+N: the seed's 1 to 3 business days.")

    def matches(self, kind: SettlementAccountKind | None, amount: int) -> bool:
        return (self.channel is None or self.channel == kind) and (self.max_amount is None or amount <= self.max_amount)


def business_days_for(rules: list[PayoutRule], kind: SettlementAccountKind | None, amount: int) -> int:
    """N for a payout: the first matching rule's, else T+1."""
    return next((rule.business_days for rule in rules if rule.matches(kind, amount)), DEFAULT_BUSINESS_DAYS)


@dataclass(frozen=True)
class PayoutAccount:
    """A merchant's settlement account as onboarding verified it: payments keeps the number sealed, unread."""

    ref: str
    masked: str
    kind: SettlementAccountKind
    sealed: str


@dataclass(frozen=True)
class MerchantPayouts:
    """What payments knows of a merchant for its payouts."""

    status: str | None  # "active", "suspended", None for a merchant payments has not heard of
    account: PayoutAccount | None = None
    held: str | None = None  # why its payouts are held (a risk review), None if they are not


@dataclass(frozen=True)
class Payout:
    payout_id: str
    merchant_id: str
    amount: Money
    status: PayoutStatus = PayoutStatus.REQUESTED
    transfer_at: datetime | None = None
    bank_txn_id: str | None = None
    failure_reason: str | None = None
    account_ref: str | None = None
    account_masked: str | None = None
    account_kind: SettlementAccountKind | None = None
    business_days: int | None = None
    review: str | None = None  # the open risk review holding it (``REJECTED`` once an operator rejected it)
    reserved: bool = False  # escrow reserved the money while it was held


@dataclass(frozen=True)
class PayoutDecision:
    payout: Payout | None
    events: list[Payload]


def refusal(merchant_id: str, merchant: MerchantPayouts) -> Rejected | None:
    """Why this merchant may not be paid out now, or None."""
    if merchant.status == "suspended":
        return Rejected("merchant_suspended", f"merchant {merchant_id} is suspended: no payouts until it is reinstated", merchant_id)
    if merchant.held is not None:
        return Rejected("payouts_held", f"payouts of merchant {merchant_id} are held: {merchant.held}", merchant_id)
    if merchant.account is None:
        return Rejected("no_verified_account", f"no settlement account verified at onboarding is known for merchant "
                        f"{merchant_id}", merchant_id)
    return None


def request(existing: Payout | None, command: RequestPayout, actor: Actor, merchant: MerchantPayouts) -> PayoutDecision:
    if actor.kind is not ActorKind.MERCHANT or actor.id != command.merchant_id:
        raise Rejected("forbidden", "only the merchant itself may withdraw its balance", command.merchant_id)
    if command.amount.amount <= 0:
        raise Rejected("invalid_amount", "a payout must be positive", command.merchant_id)
    if command.amount.currency != CNY:
        raise Rejected("unsupported_currency", f"payouts are in CNY only, not {command.amount.currency}", command.merchant_id)
    if existing is not None:
        if (existing.merchant_id, existing.amount) == (command.merchant_id, command.amount):
            return PayoutDecision(existing, [])
        raise Rejected("payout_exists", f"payout {command.payout_id} already exists with other terms", command.merchant_id)
    refused = refusal(command.merchant_id, merchant)
    if refused is not None:
        raise refused
    assert merchant.account is not None
    payout = Payout(command.payout_id, command.merchant_id, command.amount, account_ref=merchant.account.ref,
                    account_masked=merchant.account.masked, account_kind=merchant.account.kind)
    return PayoutDecision(payout, [PayoutRequested(payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount)])


def reserved(payout: Payout | None, transfer_at: datetime, business_days: int = DEFAULT_BUSINESS_DAYS) -> PayoutDecision:
    if payout is None or payout.status is not PayoutStatus.REQUESTED:
        return PayoutDecision(payout, [])
    scheduled = replace(payout, status=PayoutStatus.SCHEDULED, transfer_at=transfer_at, business_days=business_days)
    return PayoutDecision(scheduled, [PayoutScheduled(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount, transfer_at=transfer_at,
        business_days=business_days, account_ref=payout.account_ref, account_masked=payout.account_masked)])


REJECTED = "rejected"


def release_hold(payout: Payout | None) -> Payout | None:
    """An operator released the payout's risk review: it goes on (scheduled now if escrow already reserved it)."""
    if payout is None or payout.status is not PayoutStatus.REQUESTED or payout.review in (None, REJECTED):
        return None
    return replace(payout, review=None)


def reject_hold(payout: Payout | None) -> tuple[Payout | None, PayoutDecision]:
    """An operator rejected the payout's risk review: it fails, the money back in the balance (now, if escrow
    reserved it; else when escrow's reservation arrives)."""
    if payout is None or payout.status is not PayoutStatus.REQUESTED or payout.review in (None, REJECTED):
        return None, PayoutDecision(payout, [])
    if payout.reserved:
        return None, _failed(payout, "risk_rejected", reserved=True)
    return replace(payout, review=REJECTED), PayoutDecision(payout, [])


def unschedulable(payout: Payout | None, reason: str) -> PayoutDecision:
    """Escrow reserved the money but no transfer date can be found (``calendar_unavailable``): it goes back."""
    if payout is None or payout.status is not PayoutStatus.REQUESTED:
        return PayoutDecision(payout, [])
    return _failed(payout, reason, reserved=True)


def declined(payout: Payout | None, reason: str) -> PayoutDecision:
    if payout is None or payout.status is not PayoutStatus.REQUESTED:
        return PayoutDecision(payout, [])
    return _failed(payout, reason, reserved=False)


def send(payout: Payout | None, merchant: MerchantPayouts) -> PayoutDecision:
    """The transfer date came: to the bank, unless the merchant was suspended, held or changed account meanwhile."""
    if payout is None or payout.status is not PayoutStatus.SCHEDULED:
        return PayoutDecision(payout, [])
    refused = refusal(payout.merchant_id, merchant)
    if refused is not None:
        return _failed(payout, refused.reason, reserved=True)
    assert merchant.account is not None
    if merchant.account.ref != payout.account_ref:
        return _failed(payout, "settlement_account_changed", reserved=True)
    return PayoutDecision(replace(payout, status=PayoutStatus.SENT), [TransferRequested(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, account_ref=merchant.account.ref, amount=payout.amount,
        account_masked=merchant.account.masked, account_kind=merchant.account.kind, sealed_account=merchant.account.sealed)])


def completed(payout: Payout | None, outcome: TransferCompleted) -> PayoutDecision:
    if payout is None or payout.status is not PayoutStatus.SENT:
        return PayoutDecision(payout, [])  # a repeated or stray answer changes nothing
    if outcome.status is TransferStatus.SETTLED:
        return PayoutDecision(replace(payout, status=PayoutStatus.SETTLED, bank_txn_id=outcome.bank_txn_id), [PayoutSettled(
            payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount, bank_txn_id=outcome.bank_txn_id)])
    return _failed(payout, outcome.failure_reason or "bank_failure", reserved=True)


def _failed(payout: Payout, reason: str, *, reserved: bool) -> PayoutDecision:
    return PayoutDecision(replace(payout, status=PayoutStatus.FAILED, failure_reason=reason), [PayoutFailed(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount, reason=reason, reserved=reserved)])
