"""Contracts with the outside payment provider (PSP): charge requests out, signed callbacks in."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.payments import PaymentMethod
from shared.contracts.common import OrderRef, SignedCallback
from shared.envelope import Payload
from shared.money import Money


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ChargeRequested(Payload):
    """The platform asks the provider to collect a payment intent from the buyer."""

    TYPE: ClassVar[str] = "psp.charge.requested"

    intent_id: str = Field(description="Payment intent id; the provider echoes it.", examples=["PI-O-20261123-0001-1"])
    order_id: OrderRef
    method: PaymentMethod = Field(description="Payment method.", examples=["qr_code"])
    amount: Money = Field(description="Amount to collect.")
    buyer_ref: str = Field(description="Opaque buyer reference for the provider.", examples=["B-2001"])


class ChargeCallback(SignedCallback):
    """The provider's answer to a charge, signed with the shared callback secret. Signed over intent_id,
    order_id, status, amount.amount, amount.currency, provider_txn_id, failure_reason."""

    TYPE: ClassVar[str] = "psp.charge.completed"
    SIGNED: ClassVar[tuple[str, ...]] = ("intent_id", "order_id", "status", "amount.amount", "amount.currency",
                                         "provider_txn_id", "failure_reason")

    intent_id: str = Field(description="Payment intent id.", examples=["PI-O-20261123-0001-1"])
    order_id: OrderRef
    status: ChargeStatus = Field(description="Outcome.", examples=["succeeded"])
    amount: Money = Field(description="Amount collected (succeeded) or attempted (failed).")
    provider_txn_id: str = Field(description="The provider's transaction id.", examples=["PSP-7d2a9c"])
    failure_reason: str | None = Field(default=None, description="Why it failed.", examples=["insufficient_balance"])


class RefundRequested(Payload):
    """The platform asks the provider to pay money back to the buyer."""

    TYPE: ClassVar[str] = "psp.refund.requested"

    refund_id: str = Field(description="Refund id; the provider echoes it.", examples=["RF-O-20261123-0001-1"])
    order_id: OrderRef
    amount: Money = Field(description="Amount to pay back.")
    buyer_ref: str = Field(description="Opaque buyer reference for the provider.", examples=["B-2001"])


class RefundCallback(SignedCallback):
    """The provider paid a refund back to the buyer; signed like charge callbacks. Signed over refund_id,
    order_id, amount.amount, amount.currency, provider_txn_id."""

    TYPE: ClassVar[str] = "psp.refund.completed"
    SIGNED: ClassVar[tuple[str, ...]] = ("refund_id", "order_id", "amount.amount", "amount.currency", "provider_txn_id")

    refund_id: str = Field(description="Refund id.", examples=["RF-O-20261123-0001-1"])
    order_id: OrderRef
    amount: Money = Field(description="Amount paid back.")
    provider_txn_id: str = Field(description="The provider's transaction id.", examples=["PSP-9a8b7c"])


REQUESTS = TopicContract(topics.PSP_REQUESTS, "Charge and refund requests from the platform to the payment provider.",
                         [ChargeRequested, RefundRequested])
CALLBACKS = TopicContract(topics.PSP_CALLBACKS, "Signed charge and refund outcomes from the payment provider.",
                          [ChargeCallback, RefundCallback])
