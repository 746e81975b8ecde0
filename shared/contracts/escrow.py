"""Contracts of the escrow service: holds and the double-entry ledger."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import ID_PATTERN, BuyerRef, HoldRef, MerchantRef, OrderRef, PayoutRef, rejection_payload
from shared.envelope import ActorKind, Payload
from shared.money import Money


ORDER_ID = Field(pattern=ID_PATTERN, description="The order (and hold) concerned.", examples=["O-20261123-0001"])


class RecordShipment(Payload):
    """The merchant shipped the goods; the auto-confirm countdown starts. For an order paid without the guarantee
    nothing is held: the shipment is recorded (it ends the right to cancel) and the after-sale window starts."""

    TYPE: ClassVar[str] = "escrow.shipment.record"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    order_id: str = ORDER_ID
    carrier: str = Field(min_length=1, max_length=64, description="Carrier name or code.", examples=["SF Express 顺丰"])
    tracking_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="Tracking number.", examples=["SF1234567890"])


class ConfirmReceipt(Payload):
    """The buyer confirms the goods arrived as expected; the hold is released to the merchant. Only after the
    merchant recorded the shipment: before it the confirmation is refused `not_shipped`."""

    TYPE: ClassVar[str] = "escrow.receipt.confirm"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    order_id: str = ORDER_ID


class ShipmentRecorded(Payload):
    """The merchant recorded a shipment; receipt is confirmed automatically at `auto_confirm_at`."""

    TYPE: ClassVar[str] = "escrow.shipment.recorded"

    order_id: OrderRef
    hold_id: HoldRef
    carrier: str = Field(description="Carrier.", examples=["SF Express 顺丰"])
    tracking_no: str = Field(description="Tracking number.", examples=["SF1234567890"])
    auto_confirm_at: datetime = Field(description="When receipt is confirmed if the buyer does not act (UTC).", examples=["2026-11-30T08:30:00Z"])


class HoldReleased(Payload):
    """The held money went to the merchant's available balance, less the fee."""

    TYPE: ClassVar[str] = "escrow.hold.released"

    order_id: OrderRef
    hold_id: HoldRef
    merchant_id: str = Field(description="Merchant paid.", examples=["M-1001"])
    buyer_id: BuyerRef
    amount: Money = Field(description="Released from the hold.")
    fee: int = Field(description="Platform fee in fen.", examples=[77])
    net: int = Field(description="Amount less the fee, in fen: credited to the merchant, less `recovered`.", examples=[12823])
    reason: str = Field(description="`buyer_confirmed` or `auto_confirmed`.", examples=["buyer_confirmed"])
    recovered: int = Field(default=0, description="Of the net, kept to repay compensation the merchant owes, in fen.",
                           examples=[0])


class HoldRefunded(Payload):
    """Money went back from the hold to the buyer (through the payment provider)."""

    TYPE: ClassVar[str] = "escrow.hold.refunded"

    order_id: OrderRef
    hold_id: HoldRef
    buyer_id: str = Field(description="Buyer refunded.", examples=["B-2001"])
    amount: Money = Field(description="Refunded.")
    remaining: int = Field(description="Still held after the refund, in fen.", examples=[0])
    reason: str = Field(description="Why: `cancelled_by_buyer`, `cancelled_by_merchant`, or `case_refund` (a dispute "
                                    "case's agreed or ruled refund).", examples=["cancelled_by_merchant"])


class RefundRefused(Payload):
    """A refund asked of escrow could not be made from the hold."""

    TYPE: ClassVar[str] = "escrow.refund.refused"

    order_id: OrderRef
    reason: str = Field(description="`already_shipped`, `already_settled`, `no_hold`, `amount_mismatch`, `case_open` "
                                    "(a dispute case froze the hold) or `merchant_balance_short` (a payment without the "
                                    "guarantee: the merchant's available balance cannot refund it, so the disputes "
                                    "service opens a case for it, refunded from that balance, then by priority "
                                    "compensation).", examples=["already_shipped"])
    needed: int | None = Field(default=None, description="`merchant_balance_short`: what the merchant had to give back, "
                                                         "in fen.", examples=[12823])
    available: int | None = Field(default=None, description="`merchant_balance_short`: the merchant's available balance, "
                                                            "in fen.", examples=[5000])


class LateCaptureBooked(Payload):
    """A capture the order could not take was booked as owed to the buyer, and its full refund asked of the
    provider. No merchant balance or fee is touched."""

    TYPE: ClassVar[str] = "escrow.late_capture.booked"

    order_id: OrderRef
    intent_id: str = Field(description="The payment intent the provider captured late.", examples=["PI-O-20261123-0001-1"])
    buyer_id: BuyerRef
    amount: Money = Field(description="Owed back to the buyer in full.")
    refund_id: str = Field(description="The refund asked of the provider.", examples=["RFL-PI-O-20261123-0001-1"])
    reason: str = Field(description="Why the order could not take it: `order_expired`, `order_cancelled`, "
                                    "`already_paid` or `superseded_attempt`.", examples=["order_expired"])


class RefundPaidOut(Payload):
    """The provider paid a refund back to the buyer; what the platform owed them is settled."""

    TYPE: ClassVar[str] = "escrow.refund.paid_out"

    refund_id: str = Field(description="The provider refund.", examples=["RF-O-20261123-0001-12900"])
    order_id: OrderRef
    buyer_id: BuyerRef
    amount: Money = Field(description="Paid back to the buyer.")
    message: str = Field(description="What the buyer is told, zh-CN then en.",
                         examples=["退款已原路退回，请留意到账 / Your refund was paid back to where the payment came from"])


class PayoutReserved(Payload):
    """The payout amount moved from the merchant's available balance to payouts pending."""

    TYPE: ClassVar[str] = "escrow.payout.reserved"

    payout_id: PayoutRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Reserved.")
    available_after: int = Field(description="Available balance left, in fen.", examples=[0])


class PayoutDeclined(Payload):
    """The merchant's available balance cannot cover the payout."""

    TYPE: ClassVar[str] = "escrow.payout.declined"

    payout_id: PayoutRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Asked for.")
    available: int = Field(description="Available balance, in fen.", examples=[12823])
    reason: str = Field(description="`insufficient_balance`.", examples=["insufficient_balance"])


class HoldCreated(Payload):
    """A guaranteed payment is held by the platform until receipt is confirmed."""

    TYPE: ClassVar[str] = "escrow.hold.created"

    hold_id: HoldRef
    order_id: OrderRef
    merchant_id: MerchantRef
    buyer_id: BuyerRef
    amount: Money = Field(description="Held amount.")
    fee: int = Field(description="Fee in fen taken when the hold is released.", examples=[77])
    auto_confirm_days: int = Field(description="Days after shipment until auto-confirm.", examples=[7])


class LedgerLine(Payload):
    """One side of a journal entry: positive debits, negative credits."""

    account: str = Field(description="Account code, e.g. `escrow_holding` or `merchant_available:M-1001`.", examples=["escrow_holding"])
    amount: int = Field(description="Signed amount in fen: debit > 0, credit < 0.", examples=[-12900])


class LedgerEntryPosted(Payload):
    """A balanced journal entry was posted: its lines sum to zero."""

    TYPE: ClassVar[str] = "escrow.ledger.entry_posted"

    entry_id: str = Field(description="Journal entry id.", examples=["JE-1f2e3d"])
    order_id: str | None = Field(default=None, description="Order the movement belongs to.", examples=["O-20261123-0001"])
    kind: str = Field(description="What moved the money.", examples=["payment_captured"])
    currency: str = Field(description="ISO 4217 currency.", examples=["CNY"])
    lines: list[LedgerLine] = Field(description="The entry's lines.")


class MerchantCredited(Payload):
    """A direct (non-guaranteed) payment went straight to the merchant's available balance, less the fee."""

    TYPE: ClassVar[str] = "escrow.merchant.credited"

    order_id: OrderRef
    merchant_id: MerchantRef
    buyer_id: str | None = Field(default=None, description="The buyer who paid.", examples=["B-2001"])
    gross: Money = Field(description="Amount paid by the buyer.")
    fee: int = Field(description="Platform fee in fen.", examples=[77])
    net: int = Field(description="Amount less the fee, in fen: credited to the merchant, less `recovered`.", examples=[12823])
    recovered: int = Field(default=0, description="Of the net, kept to repay compensation the merchant owes, in fen.",
                           examples=[0])


class DirectOrderShipped(Payload):
    """The merchant shipped an order paid without the guarantee. Nothing is released (the money reached the merchant
    at payment); the order can no longer be cancelled, and a refund case may be opened until the after-sale window
    after `deemed_received_at` closes."""

    TYPE: ClassVar[str] = "escrow.direct_order.shipped"

    order_id: OrderRef
    merchant_id: MerchantRef
    buyer_id: BuyerRef
    carrier: str = Field(description="Carrier.", examples=["SF Express 顺丰"])
    tracking_no: str = Field(description="Tracking number.", examples=["SF1234567890"])
    deemed_received_at: datetime = Field(description="When the goods count as received: the shipment plus the order's "
                                                     "auto-confirm days (UTC).", examples=["2026-11-30T08:30:00Z"])


class DirectPaymentRefunded(Payload):
    """An order paid without the guarantee was cancelled before shipment and refunded to the buyer in full: the
    merchant gives back what it was credited (from its available balance) and the platform its fee."""

    TYPE: ClassVar[str] = "escrow.direct_payment.refunded"

    order_id: OrderRef
    merchant_id: MerchantRef
    buyer_id: BuyerRef
    amount: Money = Field(description="Refunded to the buyer: what was paid.")
    from_merchant: int = Field(description="Taken from the merchant's available balance, in fen.", examples=[12823])
    fee_returned: int = Field(description="The platform's fee given back, in fen.", examples=[77])
    reason: str = Field(description="`cancelled_by_buyer` or `cancelled_by_merchant`.", examples=["cancelled_by_merchant"])
    provider_refund_id: str = Field(description="The refund asked of the provider.", examples=["RF-O-20261123-0001-D"])


class HoldFrozen(Payload):
    """A case was opened on the order: the hold cannot be released, and its auto-confirm countdown is paused."""

    TYPE: ClassVar[str] = "escrow.hold.frozen"

    order_id: OrderRef
    hold_id: HoldRef
    case_id: str = Field(description="The case that froze it.", examples=["C-20261123-0001"])
    paused_with_seconds: int | None = Field(default=None, description="Auto-confirm time left when paused (shipped holds).",
                                            examples=[432000])


class HoldUnfrozen(Payload):
    """The case closed: the hold may be released again; a shipped hold's countdown resumes where it paused."""

    TYPE: ClassVar[str] = "escrow.hold.unfrozen"

    order_id: OrderRef
    hold_id: HoldRef
    case_id: str = Field(description="The case that closed.", examples=["C-20261123-0001"])
    remaining: int = Field(description="Still held, in fen.", examples=[9100])
    auto_confirm_at: datetime | None = Field(default=None, description="When receipt is now confirmed automatically (UTC).")


class CaseRefundExecuted(Payload):
    """A refund ordered by a case, executed: from the hold first, then from the merchant's available balance.
    ``shortfall`` is what neither could cover; the disputes service decides on priority compensation for it."""

    TYPE: ClassVar[str] = "escrow.case_refund.executed"

    refund_id: str = Field(description="The case's refund order.", examples=["CR-C-20261123-0001-1"])
    case_id: str = Field(description="The case.", examples=["C-20261123-0001"])
    order_id: OrderRef
    buyer_id: BuyerRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Ordered.")
    from_hold: int = Field(description="Refunded from the hold, in fen.", examples=[3800])
    from_merchant: int = Field(description="Taken from the merchant's available balance, in fen.", examples=[0])
    shortfall: int = Field(description="Not covered, in fen.", examples=[0])
    provider_refund_id: str | None = Field(default=None, description="The refund asked of the provider for what was "
                                           "covered (none when nothing was).", examples=["RF-CR-C-20261123-0001-1"])


class CompensationPaid(Payload):
    """Priority compensation booked: the pool paid the buyer (through the provider) and the merchant owes it back."""

    TYPE: ClassVar[str] = "escrow.compensation.paid"

    compensation_id: str = Field(description="Compensation id.", examples=["CP-C-20261123-0001-1"])
    case_id: str = Field(description="The case.", examples=["C-20261123-0001"])
    order_id: OrderRef
    buyer_id: BuyerRef
    merchant_id: MerchantRef
    amount: Money = Field(description="Paid to the buyer.")
    provider_refund_id: str = Field(description="The refund asked of the provider.", examples=["RF-CP-C-20261123-0001-1"])
    merchant_owes: int = Field(description="The merchant's recovery balance after this, in fen.", examples=[12900])


class RecoveryRepaid(Payload):
    """Income of a merchant that owed compensation went to repay it first."""

    TYPE: ClassVar[str] = "escrow.recovery.repaid"

    merchant_id: MerchantRef
    order_id: str | None = Field(default=None, description="The order whose income repaid it.", examples=["O-20261124-0007"])
    amount: Money = Field(description="Repaid.")
    merchant_owes: int = Field(description="Still owed after this, in fen.", examples=[0])


EscrowCommandRejected = rejection_payload("escrow")

COMMANDS = TopicContract(
    topics.commands("escrow"),
    "Shipment and receipt: from merchants' and buyers' apps.",
    [RecordShipment, ConfirmReceipt],
)
EVENTS = TopicContract(
    topics.events("escrow"),
    "Holds, releases, refunds and every ledger movement.",
    [HoldCreated, ShipmentRecorded, HoldReleased, HoldRefunded, RefundRefused, LateCaptureBooked, RefundPaidOut,
     MerchantCredited, DirectOrderShipped, DirectPaymentRefunded, PayoutReserved, PayoutDeclined, HoldFrozen, HoldUnfrozen,
     CaseRefundExecuted, CompensationPaid,
     RecoveryRepaid, LedgerEntryPosted, EscrowCommandRejected],
)
