"""Payouts (withdrawals), pure: (payout, event, now) -> (payout, events).

    REQUESTED --escrow reserved--> SCHEDULED --T+1 business day--> SENT --bank settled--> SETTLED
        |                                                            +---bank failed---> FAILED (money returned)
        +--escrow declined (balance short)--> FAILED
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.contracts.bank import TransferCompleted, TransferRequested, TransferStatus
from shared.contracts.payments import PayoutFailed, PayoutRequested, PayoutScheduled, PayoutSettled, RequestPayout
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected


class PayoutStatus(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    SENT = "sent"
    SETTLED = "settled"
    FAILED = "failed"


@dataclass(frozen=True)
class Payout:
    payout_id: str
    merchant_id: str
    amount: Money
    status: PayoutStatus = PayoutStatus.REQUESTED
    transfer_at: datetime | None = None
    bank_txn_id: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class PayoutDecision:
    payout: Payout | None
    events: list[Payload]


def request(existing: Payout | None, command: RequestPayout, actor: Actor) -> PayoutDecision:
    if actor.kind is not ActorKind.MERCHANT or actor.id != command.merchant_id:
        raise Rejected("forbidden", "only the merchant itself may withdraw its balance", command.merchant_id)
    if command.amount.amount <= 0:
        raise Rejected("invalid_amount", "a payout must be positive", command.merchant_id)
    if existing is not None:
        if (existing.merchant_id, existing.amount) == (command.merchant_id, command.amount):
            return PayoutDecision(existing, [])
        raise Rejected("payout_exists", f"payout {command.payout_id} already exists with other terms", command.merchant_id)
    payout = Payout(command.payout_id, command.merchant_id, command.amount)
    return PayoutDecision(payout, [PayoutRequested(payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount)])


def reserved(payout: Payout | None, transfer_at: datetime) -> PayoutDecision:
    if payout is None or payout.status is not PayoutStatus.REQUESTED:
        return PayoutDecision(payout, [])
    scheduled = replace(payout, status=PayoutStatus.SCHEDULED, transfer_at=transfer_at)
    return PayoutDecision(scheduled, [PayoutScheduled(payout_id=payout.payout_id, merchant_id=payout.merchant_id,
                                                      amount=payout.amount, transfer_at=transfer_at)])


def declined(payout: Payout | None, reason: str) -> PayoutDecision:
    if payout is None or payout.status is not PayoutStatus.REQUESTED:
        return PayoutDecision(payout, [])
    return PayoutDecision(replace(payout, status=PayoutStatus.FAILED, failure_reason=reason), [PayoutFailed(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount, reason=reason, reserved=False)])


def send(payout: Payout | None) -> PayoutDecision:
    if payout is None or payout.status is not PayoutStatus.SCHEDULED:
        return PayoutDecision(payout, [])
    return PayoutDecision(replace(payout, status=PayoutStatus.SENT), [TransferRequested(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, account_ref=f"ACCT-{payout.merchant_id}", amount=payout.amount)])


def completed(payout: Payout | None, outcome: TransferCompleted) -> PayoutDecision:
    if payout is None or payout.status is not PayoutStatus.SENT:
        return PayoutDecision(payout, [])  # a repeated or stray answer changes nothing
    if outcome.status is TransferStatus.SETTLED:
        return PayoutDecision(replace(payout, status=PayoutStatus.SETTLED, bank_txn_id=outcome.bank_txn_id), [PayoutSettled(
            payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount, bank_txn_id=outcome.bank_txn_id)])
    reason = outcome.failure_reason or "bank_failure"
    return PayoutDecision(replace(payout, status=PayoutStatus.FAILED, failure_reason=reason), [PayoutFailed(
        payout_id=payout.payout_id, merchant_id=payout.merchant_id, amount=payout.amount, reason=reason, reserved=True)])
