"""Contracts of the payments service: orders, payment intents, payment outcomes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, model_validator

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts import collection, risk
from shared.contracts.common import ID_PATTERN, BuyerRef, MerchantRef, OrderRef, PayoutRef, rejection_payload
from shared.contracts.order_lines import OrderItem, PaymentMethod
from shared.envelope import ActorKind, Payload
from shared.money import Money


class CreateOrder(Payload):
    """A merchant creates an order for a buyer. The merchant chooses the order id (unique on the platform)."""

    TYPE: ClassVar[str] = "payments.order.create"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    order_id: str = Field(pattern=ID_PATTERN, description="Order id, also the Kafka key.", examples=["O-20261123-0001"])
    merchant_id: str = Field(pattern=ID_PATTERN, description="The selling merchant.", examples=["M-1001"])
    buyer_id: str = Field(pattern=ID_PATTERN, description="The paying buyer.", examples=["B-2001"])
    items: list[OrderItem] = Field(min_length=1, max_length=200, description="Order lines.")
    amount: Money = Field(description="Total; must equal the sum of the lines.")
    guaranteed: bool = Field(default=True, description="一键担保: hold the money until the buyer confirms receipt.", examples=[True])
    auto_confirm_days: int = Field(default=7, ge=1, le=30, description="Days after shipment until receipt is confirmed automatically.", examples=[7])

    @model_validator(mode="after")
    def _total_matches_lines(self) -> CreateOrder:
        total = sum(i.quantity * i.unit_price for i in self.items)
        if total != self.amount.amount:
            raise ValueError(f"amount {self.amount.amount} does not equal the sum of the items {total}")
        if self.amount.amount == 0:
            raise ValueError("amount must be positive")
        return self


class PayOrder(Payload):
    """The order's buyer pays an order made out to them (in the buyer app, signed in): the platform creates a payment
    intent and asks the provider to charge it. Walk-in customers pay with the merchant's collection code instead
    (`payments.collection.redeem`)."""

    TYPE: ClassVar[str] = "payments.order.pay"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    order_id: str = Field(pattern=ID_PATTERN, description="The order to pay.", examples=["O-20261123-0001"])
    method: PaymentMethod = Field(description="QR code, payment link or in-app.", examples=["qr_code"])


class CancelReason(StrEnum):
    """Why an order is cancelled. Buyers: the first four; merchants: the next four; the platform: `risk_rejected`."""

    CHANGED_MIND = "changed_mind"
    ORDERED_BY_MISTAKE = "ordered_by_mistake"
    PAYMENT_TROUBLE = "payment_trouble"
    BUYER_OTHER = "buyer_other"
    OUT_OF_STOCK = "out_of_stock"
    PRICE_CHANGED = "price_changed"
    CANNOT_FULFIL = "cannot_fulfil"
    MERCHANT_OTHER = "merchant_other"
    RISK_REJECTED = "risk_rejected"  # the platform: an operator rejected a payment held for risk review


BUYER_REASONS = {CancelReason.CHANGED_MIND, CancelReason.ORDERED_BY_MISTAKE, CancelReason.PAYMENT_TROUBLE, CancelReason.BUYER_OTHER}
MERCHANT_REASONS = {CancelReason.OUT_OF_STOCK, CancelReason.PRICE_CHANGED, CancelReason.CANNOT_FULFIL, CancelReason.MERCHANT_OTHER}


class CancelOrder(Payload):
    """The buyer (before shipment) or the merchant cancels an order; a paid order is refunded in full, with or without
    the guarantee."""

    TYPE: ClassVar[str] = "payments.order.cancel"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER, ActorKind.MERCHANT,)

    order_id: str = Field(pattern=ID_PATTERN, description="The order to cancel.", examples=["O-20261123-0001"])
    reason: CancelReason = Field(description="Reason code; buyers and merchants each have their own.", examples=["out_of_stock"])
    note: str | None = Field(default=None, max_length=500, description="Free text for the other party.", examples=["尺码缺货 / size sold out"])


class RequestPayout(Payload):
    """The merchant withdraws from its available balance to the settlement account verified at onboarding, in
    1 to 3 business days by the payout schedule (T+N by account kind and amount). Refused (`payments.command.rejected`)
    with `merchant_suspended` while the merchant is suspended, `payouts_held` while its payouts are held (a risk
    review), and `no_verified_account` for a merchant whose verified settlement account payments does not know."""

    TYPE: ClassVar[str] = "payments.payout.request"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    payout_id: str = Field(pattern=ID_PATTERN, description="Payout id chosen by the merchant's system; also the key.", examples=["PO-M-1001-20261123-1"])
    merchant_id: str = Field(pattern=ID_PATTERN, description="The merchant withdrawing.", examples=["M-1001"])
    amount: Money = Field(description="Amount to withdraw.")


class OrderCreated(Payload):
    """An order exists and awaits payment."""

    TYPE: ClassVar[str] = "payments.order.created"

    order_id: OrderRef
    merchant_id: MerchantRef
    buyer_id: BuyerRef
    amount: Money = Field(description="Total.")
    guaranteed: bool = Field(description="Whether the payment is held in escrow.", examples=[True])
    auto_confirm_days: int = Field(description="Auto-confirm days after shipment.", examples=[7])
    items: list[OrderItem] = Field(description="Order lines.")
    collection_code_id: str | None = Field(default=None, description="The merchant's collection code the customer paid "
                                           "with; none for an order the merchant created for a named buyer.",
                                           examples=["QR-M-1001-0001"])


class PaymentIntentCreated(Payload):
    """The provider is asked to charge the buyer for the order (`payments.order.pay` or a redeemed collection code).
    The QR code, link or app token the customer paid with is the merchant's collection code
    (`payments.collection.issued`); `qr_payload`, `pay_url` and `app_token` are no longer filled (always null)."""

    TYPE: ClassVar[str] = "payments.intent.created"

    intent_id: str = Field(description="Payment intent id.", examples=["PI-O-20261123-0001-1"])
    order_id: OrderRef
    method: PaymentMethod = Field(description="Payment method.", examples=["qr_code"])
    amount: Money = Field(description="Amount to pay.")
    qr_payload: str | None = Field(default=None, description="Always null: see `payments.collection.issued`.", examples=[None])
    pay_url: str | None = Field(default=None, description="Always null: see `payments.collection.issued`.", examples=[None])
    app_token: str | None = Field(default=None, description="Always null: see `payments.collection.issued`.", examples=[None])
    expires_at: datetime | None = Field(default=None, description="When the platform stops waiting for the provider's answer (UTC); the buyer may pay again after it.", examples=["2026-11-23T08:45:00Z"])
    attempt: int = Field(description="1 for the first attempt, 2 after one failure, and so on.", examples=[1])


class PaymentSucceeded(Payload):
    """The payment provider confirmed the buyer's payment."""

    TYPE: ClassVar[str] = "payments.payment.succeeded"

    order_id: OrderRef
    intent_id: str = Field(description="Payment intent id.", examples=["PI-O-20261123-0001-1"])
    merchant_id: MerchantRef
    buyer_id: BuyerRef
    amount: Money = Field(description="Captured amount.")
    fee: int = Field(ge=0, description="Platform fee in fen, charged when the money reaches the merchant.", examples=[77])
    guaranteed: bool = Field(description="Held in escrow until receipt is confirmed.", examples=[True])
    auto_confirm_days: int = Field(description="Auto-confirm days after shipment.", examples=[7])
    method: PaymentMethod = Field(description="Payment method.", examples=["qr_code"])
    provider_txn_id: str = Field(description="The provider's transaction id.", examples=["PSP-7d2a9c"])


class PaymentFailed(Payload):
    """The provider declined or failed the payment; the buyer may pay again."""

    TYPE: ClassVar[str] = "payments.payment.failed"

    order_id: OrderRef
    intent_id: str = Field(description="Payment intent id.", examples=["PI-O-20261123-0001-1"])
    buyer_id: BuyerRef
    reason: str = Field(description="Failure reason code.", examples=["insufficient_balance"])
    message: str = Field(description="What the buyer is told, zh-CN then en.", examples=["余额不足 / Insufficient balance"])


class PaymentCapturedLate(Payload):
    """The provider captured a payment the order cannot take: it had expired or been cancelled, another payment
    had already paid it, a newer attempt replaced this one, or the provider captured another amount than the
    order's. Escrow refunds the captured amount to the buyer in full through the provider. The order stays as it
    was, except that an attempt captured for the wrong amount fails (``payments.payment.failed``) and the buyer
    may pay again. Recorded once per payment intent."""

    TYPE: ClassVar[str] = "payments.payment.captured_late"

    order_id: OrderRef
    intent_id: str = Field(description="The payment intent the provider captured.", examples=["PI-O-20261123-0001-1"])
    merchant_id: MerchantRef
    buyer_id: BuyerRef
    amount: Money = Field(description="Captured by the provider, and refunded in full.")
    provider_txn_id: str = Field(description="The provider's transaction id of the capture.", examples=["PSP-7d2a9c"])
    reason: str = Field(description="`order_expired`, `order_cancelled`, `already_paid`, `superseded_attempt` or "
                                    "`amount_mismatch`.",
                        examples=["order_expired"])
    message: str = Field(description="What the buyer is told, zh-CN then en.",
                         examples=["订单已超时关闭，本次扣款将全额原路退回 / The order had expired: the amount charged will be refunded in full"])


class OrderExpired(Payload):
    """The order was not paid in time and is closed."""

    TYPE: ClassVar[str] = "payments.order.expired"

    order_id: OrderRef
    merchant_id: MerchantRef
    buyer_id: BuyerRef


class RefundRequested(Payload):
    """A paid order is being cancelled: escrow refunds it unless the goods already shipped (a guaranteed order from its
    hold, one without the guarantee from the merchant's available balance)."""

    TYPE: ClassVar[str] = "payments.refund.requested"

    order_id: OrderRef
    buyer_id: str = Field(description="Buyer to refund.", examples=["B-2001"])
    amount: Money = Field(description="Amount to refund.")
    party: str = Field(description="`buyer` or `merchant`: who cancelled.", examples=["merchant"])
    reason: CancelReason = Field(description="Reason code.", examples=["out_of_stock"])


class OrderCancelled(Payload):
    """The order is cancelled; `refunded` says how much went back to the buyer."""

    TYPE: ClassVar[str] = "payments.order.cancelled"

    order_id: OrderRef
    merchant_id: MerchantRef
    buyer_id: BuyerRef
    party: str = Field(description="`buyer`, `merchant`, or `platform` (a payment rejected after risk review).", examples=["merchant"])
    reason: CancelReason = Field(description="Reason code.", examples=["out_of_stock"])
    refunded: Money = Field(description="Refunded to the buyer (0 if it was not paid).")
    note: str | None = Field(default=None, max_length=500, description="The cancelling party's note for the other party, as given.",
                             examples=["尺码缺货 / size sold out"])


class CancellationRefused(Payload):
    """A paid order could not be cancelled: the goods already shipped (ask for a refund instead), a refund case is
    open on it, or (a payment without the guarantee) the merchant's balance cannot refund it, in which case the
    platform turns the cancellation into a refund case for the buyer (`disputes.case.opened`, origin
    `cancellation`) and refunds it by priority compensation if need be."""

    TYPE: ClassVar[str] = "payments.order.cancellation_refused"

    order_id: OrderRef
    reason: str = Field(description="Why: `already_shipped`, `case_open`, `merchant_balance_short`, `amount_mismatch`, "
                                    "`already_settled` or `no_hold`.", examples=["already_shipped"])


class BuyerCancellationWarning(Payload):
    """A buyer cancels often: the next cancellations may restrict their orders."""

    TYPE: ClassVar[str] = "payments.buyer.cancellation_warning"

    buyer_id: BuyerRef
    cancellations: int = Field(description="Cancellations by this buyer within the window.", examples=[5])
    window_hours: int = Field(description="The window.", examples=[24])
    restrict_at: int = Field(description="At this many, new orders are refused for a while.", examples=[8])


class BuyerRestricted(Payload):
    """Orders for this buyer are refused until `until`, after too many cancellations."""

    TYPE: ClassVar[str] = "payments.buyer.restricted"

    buyer_id: BuyerRef
    cancellations: int = Field(description="Cancellations within the window.", examples=[8])
    until: datetime = Field(description="When orders are accepted again (UTC).", examples=["2026-11-24T08:30:00Z"])


class PayoutRequested(Payload):
    """A merchant asked to withdraw; escrow reserves the amount from its available balance."""

    TYPE: ClassVar[str] = "payments.payout.requested"

    payout_id: PayoutRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Amount.")


class PayoutScheduled(Payload):
    """The amount is reserved; the bank transfer goes out at 09:00 China time on the N-th business day (Chinese
    statutory holidays and make-up working days counted), N from 1 to 3 by the payout schedule (account kind, amount)."""

    TYPE: ClassVar[str] = "payments.payout.scheduled"

    payout_id: PayoutRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Amount.")
    transfer_at: datetime = Field(description="When the transfer is sent (09:00 China time on the T+N business day, N "
                                              "from the payout schedule), UTC.", examples=["2026-11-24T01:00:00Z"])
    business_days: int | None = Field(default=None, description="N of T+N (1 to 3), from the payout schedule; absent in "
                                                                "events from before it was added (then 1).", examples=[1])
    account_ref: str | None = Field(default=None, description="The verified settlement account it goes to (opaque).",
                                    examples=["SA-5f0c3e9a1b7d2c44"])
    account_masked: str | None = Field(default=None, description="That account, masked.", examples=["6222 **** **** 0128"])


class PayoutSettled(Payload):
    """The bank paid the merchant."""

    TYPE: ClassVar[str] = "payments.payout.settled"

    payout_id: PayoutRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Amount paid out.")
    bank_txn_id: str = Field(description="The bank's reference.", examples=["BK-93ac1e"])


class PayoutFailed(Payload):
    """The payout did not happen; any reserved money is back in the available balance."""

    TYPE: ClassVar[str] = "payments.payout.failed"

    payout_id: PayoutRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Amount.")
    reason: str = Field(description="`insufficient_balance` (escrow could not reserve it); when the transfer was due: "
                                    "`merchant_suspended`, `payouts_held` (a risk review), `settlement_account_changed`; "
                                    "`calendar_unavailable` (no holiday data for the year the schedule reaches); from the "
                                    "bank: `account_closed`, `account_unreadable`, ...", examples=["insufficient_balance"])
    reserved: bool = Field(description="Whether money had been reserved (and is now returned).", examples=[True])


PaymentsCommandRejected = rejection_payload("payments")

COMMANDS = TopicContract(
    topics.commands("payments"),
    "Commands to the payments service from merchants' storefronts and buyers' apps.",
    [CreateOrder, PayOrder, CancelOrder, RequestPayout, *collection.COMMANDS, *risk.COMMANDS],
)
EVENTS = TopicContract(
    topics.events("payments"),
    "What happened to orders and payments.",
    [OrderCreated, *collection.EVENTS, PaymentIntentCreated, PaymentSucceeded, PaymentFailed, PaymentCapturedLate, OrderExpired, RefundRequested,
     OrderCancelled, CancellationRefused, BuyerCancellationWarning, BuyerRestricted,
     PayoutRequested, PayoutScheduled, PayoutSettled, PayoutFailed, *risk.EVENTS, PaymentsCommandRejected],
)
