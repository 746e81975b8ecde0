"""What an order is made of, shared by orders and collection codes: its lines and how it is paid."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from shared.envelope import Payload


class PaymentMethod(StrEnum):
    QR_CODE = "qr_code"
    PAYMENT_LINK = "payment_link"
    IN_APP = "in_app"


class OrderItem(Payload):
    """One line of an order."""

    sku: str = Field(min_length=1, max_length=64, description="Merchant's item code.", examples=["SKU-SHOE-42"])
    name: str = Field(min_length=1, max_length=200, description="Item name shown to the buyer.", examples=["跑步鞋 Running shoes"])
    quantity: int = Field(ge=1, le=10_000, description="How many.", examples=[1])
    unit_price: int = Field(ge=0, le=10**10, description="Price of one, in fen.", examples=[12900])
