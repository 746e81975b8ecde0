"""Contracts with the outside bank that pays merchants out: transfer requests out, signed outcomes in."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import PayoutRef, SignedCallback
from shared.contracts.settlement import SettlementAccountKind
from shared.envelope import Payload
from shared.money import Money


class TransferStatus(StrEnum):
    SETTLED = "settled"
    FAILED = "failed"


class TransferRequested(Payload):
    """The platform asks the bank to pay a merchant's payout into the settlement account verified at onboarding
    (announced by `onboarding.merchant.activated`). The bank opens `sealed_account` with the bank-account seal keys
    it shares with onboarding; payments, which sends this, cannot."""

    TYPE: ClassVar[str] = "bank.transfer.requested"

    payout_id: str = Field(description="Payout id; the bank echoes it.", examples=["PO-M-1001-20261123-1"])
    merchant_id: str = Field(description="The merchant paid.", examples=["M-1001"])
    account_ref: str = Field(description="Opaque reference of the merchant's verified settlement account (never the "
                                         "number): the `settlement_account_ref` of its `onboarding.merchant.activated`.",
                             examples=["SA-5f0c3e9a1b7d2c44"])
    amount: Money = Field(description="Amount to transfer.")
    account_masked: str | None = Field(default=None, description="The account number, masked.", examples=["6222 **** **** 0128"])
    account_kind: SettlementAccountKind | None = Field(
        default=None, description="`personal_card` (个人银行卡) or `corporate` (对公账户).", examples=["corporate"])
    sealed_account: str | None = Field(
        default=None, description="The account number, AES-256-GCM with the bank-account seal keys (key id inside), bound "
                                  "to `merchant_id` and `account_ref` (`shared.contracts.settlement.open_account`).",
                        examples=["v1:k1:Q2lwaGVy..."])


class TransferCompleted(SignedCallback):
    """The bank's outcome of a transfer, signed with the shared bank callback secret. Signed over payout_id,
    status, amount.amount, amount.currency, bank_txn_id, failure_reason."""

    TYPE: ClassVar[str] = "bank.transfer.completed"
    SIGNED: ClassVar[tuple[str, ...]] = ("payout_id", "status", "amount.amount", "amount.currency", "bank_txn_id",
                                         "failure_reason")

    payout_id: PayoutRef
    status: TransferStatus = Field(description="Outcome.", examples=["settled"])
    amount: Money = Field(description="Amount transferred (or attempted).")
    bank_txn_id: str = Field(description="The bank's reference.", examples=["BK-93ac1e"])
    failure_reason: str | None = Field(default=None, description="Why it failed.", examples=["account_closed"])


REQUESTS = TopicContract(topics.BANK_REQUESTS, "Payout transfers from the platform to the bank.", [TransferRequested])
CALLBACKS = TopicContract(topics.BANK_CALLBACKS, "Signed transfer outcomes from the bank.", [TransferCompleted])
