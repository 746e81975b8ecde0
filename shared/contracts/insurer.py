"""Contracts with the insurer behind priority compensation: claims out, signed decisions and payments in.

The platform pays a buyer first from the compensation pool, then claims what it paid from the
insurer. The insurer decides (approved in full, in part, or denied) and pays what it approved.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import MerchantRef, OrderRef, SignedCallback
from shared.envelope import Payload
from shared.money import Money

CLAIM_ID = Field(description="Claim id chosen by the platform; the insurer echoes it.", examples=["CL-C-20261123-0001-1"])
CASE_ID = Field(description="The dispute case the claim is for.", examples=["C-20261123-0001"])


class ClaimDecision(StrEnum):
    APPROVED = "approved"
    PARTIAL = "partial"
    DENIED = "denied"


class ClaimFiled(Payload):
    """The platform claims from the insurer what it paid a buyer as priority compensation."""

    TYPE: ClassVar[str] = "insurer.claim.filed"

    claim_id: str = CLAIM_ID
    case_id: str = CASE_ID
    order_id: OrderRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Compensation paid to the buyer, claimed in full.")
    reason: str = Field(description="The case's reason code.", examples=["not_received"])


class ClaimDecided(SignedCallback):
    """The insurer's decision on a claim, signed with the shared insurer callback secret. Signed over claim_id,
    case_id, decision, approved.amount, approved.currency, reason."""

    TYPE: ClassVar[str] = "insurer.claim.decided"
    SIGNED: ClassVar[tuple[str, ...]] = ("claim_id", "case_id", "decision", "approved.amount", "approved.currency",
                                         "reason")

    claim_id: str = CLAIM_ID
    case_id: str = CASE_ID
    decision: ClaimDecision = Field(description="approved (in full), partial or denied.", examples=["approved"])
    approved: Money = Field(description="What the insurer will pay: the claim in full, part of it, or zero.")
    reason: str | None = Field(default=None, description="Why it was reduced or denied.", examples=["excluded_goods"])


class ClaimPaid(SignedCallback):
    """The insurer paid an approved claim into the platform's account, signed like its decisions. Signed over
    claim_id, case_id, amount.amount, amount.currency, insurer_txn_id."""

    TYPE: ClassVar[str] = "insurer.claim.paid"
    SIGNED: ClassVar[tuple[str, ...]] = ("claim_id", "case_id", "amount.amount", "amount.currency", "insurer_txn_id")

    claim_id: str = CLAIM_ID
    case_id: str = CASE_ID
    amount: Money = Field(description="Paid.")
    insurer_txn_id: str = Field(description="The insurer's payment reference.", examples=["INS-5c1f0a"])


REQUESTS = TopicContract(topics.INSURER_REQUESTS, "Claims from the platform to the insurer.", [ClaimFiled])
CALLBACKS = TopicContract(topics.INSURER_CALLBACKS, "Signed claim decisions and payments from the insurer.",
                          [ClaimDecided, ClaimPaid])
