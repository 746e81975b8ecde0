"""Real-time risk controls (seed 01: abnormal transactions are watched, and the parties told at once).

Payments evaluates the published rules (README "Risk controls"; `DANBAO_PAYMENTS_RISK_RULES`) on each payment,
payout and cancellation. An outcome other than allow is an event naming the rule and its figures:

- `review`: the payment is not charged, or the payout not sent, until an operator decides
  (`payments.risk.decide`: `release` goes on, `reject` closes the order or fails the payout, the money back
  where it was);
- `block`: refused at once (nothing is charged or reserved).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared.contracts.common import MerchantRef
from shared.envelope import ActorKind, Payload

REVIEW_ID = Field(description="The review's id; what `payments.risk.decide` names.", examples=["RR-O-20261207-0001-1"])


class RiskOutcome(StrEnum):
    REVIEW = "review"
    BLOCK = "block"


class RiskSubject(StrEnum):
    PAYMENT = "payment"
    PAYOUT = "payout"
    CANCELLATION = "cancellation"


class RiskDecision(StrEnum):
    RELEASE = "release"
    REJECT = "reject"


class RiskFlagged(Payload):
    """A rule fired: `review` holds the payment or payout for an operator; `block` refused it."""

    TYPE: ClassVar[str] = "payments.risk.flagged"

    review_id: str = REVIEW_ID
    subject: RiskSubject = Field(description="What was evaluated.", examples=["payment"])
    subject_id: str = Field(description="The order (payment, cancellation), the payout, or for a blocked collection code "
                            "the order it would have created.", examples=["O-20261207-0001"])
    order_id: str | None = Field(default=None, description="The order held for review (an order that exists); none "
                                 "otherwise.", examples=["O-20261207-0001"])
    payout_id: str | None = Field(default=None, description="The payout held for review.", examples=["PO-M-1001-20261207-1"])
    merchant_id: MerchantRef
    buyer_id: str | None = Field(default=None, description="The buyer, for payments and cancellations.", examples=["B-2001"])
    rule: str = Field(description="The rule that fired (README: Risk controls).", examples=["R-VELOCITY-BUYER"])
    outcome: RiskOutcome = Field(description="`review` or `block`.", examples=["review"])
    observed: int = Field(description="What the rule measured (a count, or fen).", examples=[11])
    threshold: int = Field(description="The limit it was measured against.", examples=[10])
    window_minutes: int = Field(description="Over how long it was measured.", examples=[10])
    detail: str = Field(description="The figures in words (en).", examples=["11 payments by B-2001 in 10 minutes; at most 10"])


class DecideRiskReview(Payload):
    """An operator decides a review: `release` lets the payment be charged or the payout be sent; `reject` closes
    the order (nothing was charged) or fails the payout (the reserved money goes back to the merchant's balance)."""

    TYPE: ClassVar[str] = "payments.risk.decide"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.OPERATOR,)

    review_id: str = Field(min_length=1, max_length=100, description="The review (from `payments.risk.flagged`).",
                           examples=["RR-O-20261207-0001-1"])
    decision: RiskDecision = Field(description="`release` or `reject`.", examples=["release"])
    note: str = Field(min_length=2, max_length=500, description="Why, for the record.", examples=["买家来电核实，本人操作 / verified by phone"])


class RiskReviewDecided(Payload):
    """An operator decided a review."""

    TYPE: ClassVar[str] = "payments.risk.decided"

    review_id: str = REVIEW_ID
    subject: RiskSubject = Field(description="What was held.", examples=["payment"])
    subject_id: str = Field(description="The order or payout.", examples=["O-20261207-0001"])
    merchant_id: MerchantRef
    buyer_id: str | None = Field(default=None, description="The buyer, for payments.", examples=["B-2001"])
    decision: RiskDecision = Field(description="`release` or `reject`.", examples=["release"])
    by: str = Field(description="The operator.", examples=["OP-1"])
    note: str = Field(description="Why.", examples=["买家来电核实，本人操作 / verified by phone"])
    decided_at: datetime = Field(description="When (UTC).", examples=["2026-12-07T09:00:00Z"])


COMMANDS = [DecideRiskReview]
EVENTS = [RiskFlagged, RiskReviewDecided]
