"""Payments without the guarantee, pure. Nothing is held: the payment is credited to the merchant at once, less
the fee (``direct_payment``: Dr ``psp_clearing``; Cr ``merchant_available``, ``platform_fees``, and first
``merchant_recovery_receivable`` for compensation the merchant owes). Escrow still keeps the order, so that:

- the merchant records its **shipment** (``escrow.shipment.record``, as for a guaranteed order): it ends the
  right to cancel and starts the after-sale window (the shipment plus the order's auto-confirm days, then the
  published window); nothing is released, since nothing is held;
- a **cancellation before shipment** refunds the buyer in full (``direct_refund``: Dr ``merchant_available``
  by what the merchant was credited, Dr ``platform_fees`` by the fee it returns, Cr ``buyer_refunds_payable``;
  paid back through the provider), as a cancelled guaranteed order costs the merchant no fee. When the
  merchant's available balance cannot give back what it was credited, nothing moves and the refund is refused
  ``merchant_balance_short``: the disputes service then opens a case for it, agreed at once, refunded from
  that balance and then by priority compensation, which the merchant owes back;
- a **case** on the order freezes it like a hold: it neither ships nor is refunded for a cancellation while
  the case is open, and what cases order refunded counts against a later cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.escrow.ledger import (
    PLATFORM_FEES,
    PSP_CLEARING,
    JournalEntry,
    buyer_refunds_payable,
    entry,
    merchant_available,
    merchant_recovery_receivable,
    recovery,
    repaid,
)
from shared.contracts.escrow import (
    DirectOrderShipped,
    DirectPaymentRefunded,
    MerchantCredited,
    RecordShipment,
    RefundRefused,
)
from shared.contracts.payments import PaymentSucceeded
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected


@dataclass(frozen=True)
class DirectPayment:
    order_id: str
    merchant_id: str
    buyer_id: str
    amount: int
    currency: str
    fee: int
    auto_confirm_days: int
    shipped_at: datetime | None = None
    carrier: str | None = None
    tracking_no: str | None = None
    cancellation_refunded: int = 0
    case_refunds: int = 0  # refunds ordered by cases (however covered)
    frozen_by: str | None = None

    @property
    def net(self) -> int:
        return self.amount - self.fee


@dataclass(frozen=True)
class Credit:
    payment: DirectPayment
    entry: JournalEntry
    events: list[Payload]


def credit(payment: PaymentSucceeded, owed: int = 0) -> Credit:
    """The payment straight to the merchant less the fee; what the merchant ``owed`` for priority compensation is
    repaid from the net first."""
    amount, currency, order_id = payment.amount.amount, payment.amount.currency, payment.order_id
    direct = DirectPayment(order_id=order_id, merchant_id=payment.merchant_id, buyer_id=payment.buyer_id, amount=amount,
                           currency=currency, fee=payment.fee, auto_confirm_days=payment.auto_confirm_days)
    net = direct.net
    recovered = recovery(net, owed)
    booked = entry(
        "direct_payment", order_id, currency,
        (PSP_CLEARING, amount), (merchant_recovery_receivable(payment.merchant_id), -recovered),
        (merchant_available(payment.merchant_id), -(net - recovered)), (PLATFORM_FEES, -payment.fee),
    )
    credited = MerchantCredited(order_id=order_id, merchant_id=payment.merchant_id, buyer_id=payment.buyer_id,
                                gross=payment.amount, fee=payment.fee, net=net, recovered=recovered)
    return Credit(direct, booked, [credited, *repaid(payment.merchant_id, order_id, currency, recovered, owed)])


@dataclass(frozen=True)
class DirectDecision:
    payment: DirectPayment
    events: list[Payload]
    entry: JournalEntry | None = None


def record_shipment(direct: DirectPayment, command: RecordShipment, actor: Actor, now: datetime) -> DirectDecision:
    if actor.kind is not ActorKind.MERCHANT or actor.id != direct.merchant_id:
        raise Rejected("forbidden", "only the order's merchant may record its shipment", direct.order_id)
    if direct.frozen_by is not None:
        raise Rejected("case_open", f"case {direct.frozen_by} is open on this order", direct.order_id)
    if direct.shipped_at is not None:
        raise Rejected("illegal_transition", "the order was shipped already", direct.order_id)
    if direct.cancellation_refunded:
        raise Rejected("illegal_transition", "the order was cancelled and refunded", direct.order_id)
    shipped = replace(direct, shipped_at=now, carrier=command.carrier, tracking_no=command.tracking_no)
    return DirectDecision(shipped, [DirectOrderShipped(
        order_id=direct.order_id, merchant_id=direct.merchant_id, buyer_id=direct.buyer_id, carrier=command.carrier,
        tracking_no=command.tracking_no, deemed_received_at=now + timedelta(days=direct.auto_confirm_days))])


def refund_provider_id(order_id: str) -> str:
    return f"RF-{order_id}-D"


def refund_for_cancellation(direct: DirectPayment, amount: int, reason: str, available: int) -> DirectDecision | RefundRefused:
    """A cancelled order's refund before shipment: all the buyer paid, from what the merchant was credited (its
    ``available`` balance must cover it) and the platform's fee."""
    order_id = direct.order_id
    if direct.cancellation_refunded:
        return RefundRefused(order_id=order_id, reason="already_settled")
    if direct.frozen_by is not None:
        return RefundRefused(order_id=order_id, reason="case_open")
    if direct.shipped_at is not None:
        return RefundRefused(order_id=order_id, reason="already_shipped")
    if amount != direct.amount or direct.case_refunds:
        return RefundRefused(order_id=order_id, reason="amount_mismatch")
    if available < direct.net:
        return RefundRefused(order_id=order_id, reason="merchant_balance_short", needed=direct.net, available=max(0, available))
    booked = entry("direct_refund", order_id, direct.currency,
                   (merchant_available(direct.merchant_id), direct.net), (PLATFORM_FEES, direct.fee),
                   (buyer_refunds_payable(direct.buyer_id), -direct.amount))
    refunded = replace(direct, cancellation_refunded=direct.amount)
    event = DirectPaymentRefunded(order_id=order_id, merchant_id=direct.merchant_id, buyer_id=direct.buyer_id,
                                  amount=Money(amount=direct.amount, currency=direct.currency), from_merchant=direct.net,
                                  fee_returned=direct.fee, reason=reason, provider_refund_id=refund_provider_id(order_id))
    return DirectDecision(refunded, [event], booked)


def freeze(direct: DirectPayment, case_id: str) -> DirectPayment | None:
    """A case opened on the order (None: nothing changes, it is frozen already)."""
    return None if direct.frozen_by is not None else replace(direct, frozen_by=case_id)


def unfreeze(direct: DirectPayment, case_id: str) -> DirectPayment | None:
    """The case that froze it closed (None: not this case)."""
    return replace(direct, frozen_by=None) if direct.frozen_by == case_id else None


def case_refund_ordered(direct: DirectPayment, amount: int) -> DirectPayment:
    return replace(direct, case_refunds=direct.case_refunds + amount)
