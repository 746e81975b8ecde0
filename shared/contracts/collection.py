"""Collection codes (收款码): the QR codes, links and in-app tokens a merchant issues so that any customer
can pay it (seed 02: 二维码支付, 链接支付, APP支付).

A merchant issues a code; the platform signs it and announces it with its URL (what the QR code encodes)
and its token. A customer who scans the QR code, opens the link or whose app holds the token redeems it
with their own signed command; payments checks the code's signature, expiry, single use and the
merchant's status, then creates the order for that customer and asks the provider to charge it.

- An ``order`` code is one sale: its amount and items are fixed, and it pays once.
- A ``shop`` code is the shop's standing QR code: the customer enters the amount; every redemption is a
  new order for that merchant. It works until it expires or the merchant revokes it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, model_validator

from shared.contracts.common import ID_PATTERN, BuyerRef, MerchantRef, OrderRef
from shared.contracts.order_lines import OrderItem, PaymentMethod
from shared.envelope import ActorKind, Payload
from shared.money import Money

CODE_ID = Field(pattern=ID_PATTERN, description="Code id chosen by the merchant's system; also the Kafka key.",
                examples=["QR-M-1001-0001"])
CodeRef = Field(description="Collection code id.", examples=["QR-M-1001-0001"])


class CollectionKind(StrEnum):
    ORDER = "order"
    SHOP = "shop"


class IssueCollectionCode(Payload):
    """The merchant issues a collection code: one sale's QR code, link or in-app token (`order`), or the shop's
    standing QR code (`shop`)."""

    TYPE: ClassVar[str] = "payments.collection.issue"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    code_id: str = CODE_ID
    merchant_id: str = Field(pattern=ID_PATTERN, description="The merchant collecting.", examples=["M-1001"])
    kind: CollectionKind = Field(description="`order`: one sale, fixed amount, pays once. `shop`: the customer enters "
                                             "the amount; pays any number of times.", examples=["order"])
    channel: PaymentMethod = Field(default=PaymentMethod.QR_CODE, description="QR code, link or in-app token.",
                                       examples=["qr_code"])
    order_id: str | None = Field(default=None, pattern=ID_PATTERN, description="`order` codes: the order the sale becomes "
                                 "(the merchant's order number, unique on the platform). `shop` codes: none.",
                                 examples=["O-20261207-0001"])
    amount: Money | None = Field(default=None, description="`order` codes: the total, CNY, equal to the sum of the items. "
                                 "`shop` codes: none (the customer enters it).")
    items: list[OrderItem] = Field(default_factory=list, max_length=200,
                                        description="`order` codes: the lines (at least one). `shop` codes: none.")
    buyer_id: str | None = Field(default=None, pattern=ID_PATTERN, description="`order` codes only, optional: the one "
                                 "customer who may redeem it (an in-app token for a signed-in buyer).", examples=["B-2001"])
    guarantee: bool = Field(default=True, description="Offer 一键担保 to the customer (free); honoured where the "
                            "merchant's industry allows it.", examples=[True])
    auto_confirm_days: int = Field(default=7, ge=1, le=30, description="Days after shipment until receipt is confirmed "
                                   "automatically, for guaranteed orders.", examples=[7])
    valid_minutes: int | None = Field(default=None, ge=1, le=366 * 24 * 60, description="How long the code works; default "
                                      "`DANBAO_PAYMENTS_PAYMENT_TOKEN_MINUTES` for `order` codes and "
                                      "`DANBAO_PAYMENTS_SHOP_CODE_DAYS` for `shop` codes.", examples=[30])

    @model_validator(mode="after")
    def _fits_kind(self) -> IssueCollectionCode:
        if self.kind is CollectionKind.ORDER:
            if self.order_id is None or self.amount is None or not self.items:
                raise ValueError("an order code needs order_id, amount and items")
            total = sum(i.quantity * i.unit_price for i in self.items)
            if total != self.amount.amount or total == 0:
                raise ValueError(f"amount {self.amount.amount} must be positive and equal the sum of the items {total}")
        elif self.order_id is not None or self.amount is not None or self.items or self.buyer_id is not None:
            raise ValueError("a shop code has no order_id, amount, items or buyer_id: the customer enters the amount")
        return self


class RedeemCollectionCode(Payload):
    """A customer pays with a collection code: the QR code scanned, the link opened, or the app's token. The
    customer is the command's actor (a buyer, signed in with the buyer app). Creates the order and its charge."""

    TYPE: ClassVar[str] = "payments.collection.redeem"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    token: str = Field(min_length=16, max_length=2048, description="The code's token (the last part of its URL).",
                       examples=["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJRUi1NLTEwMDEtMDAwMSJ9.c2lnbmF0dXJl"])
    order_id: str | None = Field(default=None, pattern=ID_PATTERN, description="`shop` codes: the new order's id, "
                                 "chosen by the cashier (unique). `order` codes: none, or the code's own order id.",
                                 examples=["W-20261207-7f3a"])
    amount: Money | None = Field(default=None, description="`shop` codes: what the customer pays, CNY. `order` codes: "
                                 "none, or the code's amount.")
    guaranteed: bool = Field(default=True, description="The customer's choice of 一键担保 (free: the fee is the same).",
                             examples=[True])
    device_id: str | None = Field(default=None, max_length=64, description="The customer's device, as the cashier "
                                  "reports it (risk rules count payments per device).", examples=["DEV-5f2c"])


class RevokeCollectionCode(Payload):
    """The merchant stops a code (a shop QR code taken down, a link sent to the wrong person)."""

    TYPE: ClassVar[str] = "payments.collection.revoke"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    code_id: str = CODE_ID
    merchant_id: str = Field(pattern=ID_PATTERN, description="The code's merchant.", examples=["M-1001"])


class CollectionCodeIssued(Payload):
    """A code works from now until `expires_at`: render `url` as the QR code or send it as the link; hand `token`
    to the app SDK."""

    TYPE: ClassVar[str] = "payments.collection.issued"

    code_id: str = CodeRef
    merchant_id: MerchantRef
    kind: CollectionKind = Field(description="`order` or `shop`.", examples=["order"])
    channel: PaymentMethod = Field(description="QR code, link or in-app token.", examples=["qr_code"])
    order_id: str | None = Field(default=None, description="`order` codes: the order the sale becomes. `shop` codes: none.",
                                 examples=["O-20261207-0001"])
    amount: Money | None = Field(default=None, description="`order` codes: the amount. `shop` codes: none.")
    items: list[OrderItem] = Field(default_factory=list, description="`order` codes: the lines.")
    buyer_id: str | None = Field(default=None, description="The one customer who may redeem it, if the merchant named one.",
                                 examples=["B-2001"])
    guarantee_available: bool = Field(description="Whether the customer may choose 一键担保 with this code.",
                                      examples=[True])
    merchant_verified: bool = Field(description="The merchant's verified badge, for the cashier page.", examples=[True])
    token: str = Field(description="The signed token (JWT, HS256): code id, merchant, kind and expiry.",
                       examples=["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJRUi1NLTEwMDEtMDAwMSJ9.c2lnbmF0dXJl"])
    url: str = Field(description="The cashier page for the code: what the QR code encodes and the link opens.",
                     examples=["https://pay.danbao.example/c/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJRUi1NLTEwMDEtMDAwMSJ9.c2lnbmF0dXJl"])
    expires_at: datetime = Field(description="When the code stops working (UTC).", examples=["2026-12-07T10:30:00Z"])


class CollectionCodeRedeemed(Payload):
    """A customer paid with the code: `order_id` is the order it created (its `payments.order.created`, intent and
    outcome follow)."""

    TYPE: ClassVar[str] = "payments.collection.redeemed"

    code_id: str = CodeRef
    merchant_id: MerchantRef
    kind: CollectionKind = Field(description="`order` or `shop`.", examples=["shop"])
    order_id: OrderRef
    buyer_id: BuyerRef
    amount: Money = Field(description="The order's amount.")
    guaranteed: bool = Field(description="The customer's choice of 一键担保.", examples=[True])


class CollectionCodeRevoked(Payload):
    """The merchant revoked the code: redeeming it is refused (`code_revoked`)."""

    TYPE: ClassVar[str] = "payments.collection.revoked"

    code_id: str = CodeRef
    merchant_id: MerchantRef
    revoked_at: datetime = Field(description="When (UTC).", examples=["2026-12-07T10:00:00Z"])


COMMANDS = [IssueCollectionCode, RedeemCollectionCode, RevokeCollectionCode]
EVENTS = [CollectionCodeIssued, CollectionCodeRedeemed, CollectionCodeRevoked]
