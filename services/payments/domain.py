"""Orders and their payment, as a pure state machine: (order, command, now) -> (order, events).

    AWAITING_PAYMENT --pay--> PAYMENT_PENDING --provider succeeded--> PAID
           ^                        |
           +---provider failed------+   (the buyer may pay again)
    AWAITING_PAYMENT --deadline--> EXPIRED          AWAITING_PAYMENT --cancel--> CANCELLED
    PAID --cancel--> REFUND_PENDING --escrow refunded--> CANCELLED
                           +--------escrow refused (shipped, a case open, the merchant's balance short)--> PAID

A paid order is cancelled the same way with or without the guarantee: escrow refunds the hold, or, for a
payment already credited to the merchant, takes the refund back from the merchant's available balance (and
returns the fee). When that balance is short, escrow refuses (``merchant_balance_short``), the order stays
paid, and the disputes service turns the cancellation into a case refunded by priority compensation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts.payments import (
    BUYER_REASONS,
    MERCHANT_REASONS,
    BuyerCancellationWarning,
    BuyerRestricted,
    CancellationRefused,
    CancelOrder,
    CancelReason,
    CreateOrder,
    OrderCancelled,
    OrderExpired,
    PaymentCapturedLate,
    RefundRequested,
    OrderCreated,
    OrderItem,
    PaymentFailed,
    PaymentIntentCreated,
    PaymentMethod,
    PaymentSucceeded,
    PayOrder,
)
from shared.contracts.psp import ChargeCallback, ChargeRequested, ChargeStatus
from shared.envelope import Actor, ActorKind, Payload
from shared.money import CNY, Money, fee_for
from shared.unit_of_work import Rejected, Waiting


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_PENDING = "payment_pending"
    RISK_REVIEW = "risk_review"  # a payment held by a risk rule until an operator decides: nothing charged yet
    PAID = "paid"
    REFUND_PENDING = "refund_pending"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


CLOSED = {OrderStatus.CANCELLED, OrderStatus.EXPIRED}


FAILURE_MESSAGES = {
    "insufficient_balance": "余额不足，请更换支付方式后重试 / Insufficient balance: try another payment method",
    "network_error": "网络异常，请稍后重试 / Network error: please try again",
    "wrong_details": "支付信息有误，请核对后重试 / Payment details are wrong: check them and try again",
    "provider_timeout": "支付结果未确认，请稍后重试 / The payment was not confirmed in time: please try again",
    "amount_mismatch": "扣款金额与订单不符，已全额原路退回，请重新支付 / The amount charged did not match the order: "
                       "it will be refunded in full; please pay again",
}

LATE_CAPTURE_MESSAGES = {
    "order_expired": "订单已超时关闭，本次扣款将全额原路退回 / The order had expired: the amount charged will be refunded in full",
    "order_cancelled": "订单已取消，本次扣款将全额原路退回 / The order was cancelled: the amount charged will be refunded in full",
    "already_paid": "订单已支付，重复扣款将全额原路退回 / The order was already paid: the second charge will be refunded in full",
    "superseded_attempt": "本次支付已被新的支付取代，扣款将全额原路退回 / A newer payment replaced this one: "
                          "the amount charged will be refunded in full",
    "amount_mismatch": "扣款金额与订单金额不符，本次扣款将全额原路退回 / The amount charged did not match the order: "
                       "it will be refunded in full",
}


@dataclass(frozen=True)
class Order:
    order_id: str
    merchant_id: str
    buyer_id: str
    items: tuple[OrderItem, ...]
    amount: Money
    guaranteed: bool
    auto_confirm_days: int
    status: OrderStatus = OrderStatus.AWAITING_PAYMENT
    attempts: int = 0
    intent_id: str | None = None
    method: PaymentMethod | None = None
    provider_txn_id: str | None = None
    fee: int = 0
    paid_at: datetime | None = None
    cancel_party: str | None = None
    cancel_reason: CancelReason | None = None
    cancel_note: str | None = None
    collection_code_id: str | None = None  # the collection code the order was created by, if any


@dataclass(frozen=True)
class Decision:
    order: Order | None
    events: list[Payload]


def merchant_key(merchant_id: str) -> str:
    """What an order waits for until onboarding's activation of its merchant is known."""
    return f"merchant:{merchant_id}"


def create_order(existing: Order | None, command: CreateOrder, actor: Actor, merchant_status: str | None,
                 buyer_restricted_until: datetime | None = None) -> Decision:
    """``merchant_status``: "active", "suspended", or None for a merchant payments has not heard of."""
    if actor.kind is not ActorKind.MERCHANT or actor.id != command.merchant_id:
        raise Rejected("forbidden", "only the order's merchant may create it", command.order_id)
    require_cny(command.amount, command.order_id)
    if buyer_restricted_until is not None and existing is None:
        raise Rejected("buyer_restricted", f"orders for buyer {command.buyer_id} are refused until "
                       f"{buyer_restricted_until.isoformat()} after frequent cancellations", command.order_id)
    if merchant_status is None and existing is None:  # onboarding's merchant.activated may still be on its way
        raise Waiting(merchant_key(command.merchant_id), "merchant_not_active",
                      f"merchant {command.merchant_id} is not active", command.order_id)
    if merchant_status != "active" and existing is None:
        raise Rejected("merchant_not_active", f"merchant {command.merchant_id} is not active", command.order_id)
    order = Order(
        order_id=command.order_id, merchant_id=command.merchant_id, buyer_id=command.buyer_id,
        items=tuple(command.items), amount=command.amount, guaranteed=command.guaranteed,
        auto_confirm_days=command.auto_confirm_days,
    )
    if existing is not None:
        if _terms(existing) == _terms(order):
            return Decision(existing, [])  # the same order again: the first outcome stands
        raise Rejected("order_exists", f"order {command.order_id} already exists with different terms", command.order_id)
    event = OrderCreated(
        order_id=order.order_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id, amount=order.amount,
        guaranteed=order.guaranteed, auto_confirm_days=order.auto_confirm_days, items=list(order.items),
    )
    return Decision(order, [event])


def require_cny(amount: Money, aggregate_id: str | None) -> None:
    """The platform settles in renminbi only."""
    if amount.currency != CNY:
        raise Rejected("unsupported_currency", f"amounts are in CNY only, not {amount.currency}", aggregate_id)


def pay(order: Order | None, command: PayOrder, actor: Actor, now: datetime, wait: timedelta) -> Decision:
    """The buyer pays: a payment intent, and the provider asked to charge it (answering within ``wait``)."""
    if order is None:
        raise Rejected("order_not_found", f"order {command.order_id} does not exist", command.order_id)
    if actor.kind is not ActorKind.BUYER or actor.id != order.buyer_id:
        raise Rejected("forbidden", "only the order's buyer may pay it", order.order_id)
    if order.status in CLOSED:
        raise Rejected("order_closed", f"the order is {order.status.value}", order.order_id)
    if order.status in (OrderStatus.PAID, OrderStatus.REFUND_PENDING):
        raise Rejected("already_paid", "the order is already paid", order.order_id)
    if order.status is OrderStatus.PAYMENT_PENDING:
        raise Rejected("payment_in_progress", "a payment for this order is awaiting the provider", order.order_id)
    if order.status is OrderStatus.RISK_REVIEW:
        raise Rejected("risk_review", "a payment for this order is held for risk review", order.order_id)
    attempt = order.attempts + 1
    intent_id = f"PI-{order.order_id}-{attempt}"
    paid = replace(order, status=OrderStatus.PAYMENT_PENDING, attempts=attempt, intent_id=intent_id, method=command.method)
    return Decision(paid, [
        PaymentIntentCreated(intent_id=intent_id, order_id=order.order_id, method=command.method, amount=order.amount,
                             expires_at=now + wait, attempt=attempt),
        ChargeRequested(intent_id=intent_id, order_id=order.order_id, method=command.method,
                        amount=order.amount, buyer_ref=order.buyer_id),
    ])


def settle_charge(order: Order | None, callback: ChargeCallback, fee_rate_bp: int, now: datetime,
                  late_capture_recorded: bool = False) -> Decision:
    """Apply the provider's answer. Failures for another attempt, and repeated answers, change nothing.
    A success that arrives after the wait timed out still pays the order, if it is the latest attempt
    and the order is open. A success the order cannot take is a late capture, recorded once per
    intent (``late_capture_recorded``: this intent's was already) so the money goes back to the buyer."""
    if order is None:
        return Decision(order, [])
    if callback.status is ChargeStatus.SUCCEEDED:
        reason = late_capture_reason(order, callback.intent_id)
        if reason is not None:
            return Decision(order, [] if late_capture_recorded else [_captured_late(order, callback, reason)])
    if callback.intent_id != order.intent_id:
        return Decision(order, [])
    late = order.status is OrderStatus.AWAITING_PAYMENT
    if not (order.status is OrderStatus.PAYMENT_PENDING or (late and callback.status is ChargeStatus.SUCCEEDED)):
        return Decision(order, [])
    if callback.status is ChargeStatus.FAILED:
        reason = callback.failure_reason or "unknown"
        failed = replace(order, status=OrderStatus.AWAITING_PAYMENT)
        message = FAILURE_MESSAGES.get(reason, "支付失败，请重试 / Payment failed: please try again")
        return Decision(failed, [PaymentFailed(order_id=order.order_id, intent_id=callback.intent_id,
                                               buyer_id=order.buyer_id, reason=reason, message=message)])
    if callback.amount != order.amount:
        # The provider took another amount than the order's: it cannot pay the order, and all of it goes back.
        if late_capture_recorded:
            return Decision(order, [])
        captured = _captured_late(order, callback, "amount_mismatch")
        if order.status is not OrderStatus.PAYMENT_PENDING:
            return Decision(order, [captured])  # the buyer was already told this attempt failed
        failed = replace(order, status=OrderStatus.AWAITING_PAYMENT)
        return Decision(failed, [captured, PaymentFailed(order_id=order.order_id, intent_id=callback.intent_id,
                                                         buyer_id=order.buyer_id, reason="amount_mismatch",
                                                         message=FAILURE_MESSAGES["amount_mismatch"])])
    fee = fee_for(order.amount.amount, fee_rate_bp)
    paid = replace(order, status=OrderStatus.PAID, provider_txn_id=callback.provider_txn_id, fee=fee, paid_at=now)
    assert order.method is not None
    return Decision(paid, [PaymentSucceeded(
        order_id=order.order_id, intent_id=callback.intent_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id,
        amount=order.amount, fee=fee, guaranteed=order.guaranteed, auto_confirm_days=order.auto_confirm_days,
        method=order.method, provider_txn_id=callback.provider_txn_id,
    )])


def _captured_late(order: Order, callback: ChargeCallback, reason: str) -> PaymentCapturedLate:
    return PaymentCapturedLate(
        order_id=order.order_id, intent_id=callback.intent_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id,
        amount=callback.amount, provider_txn_id=callback.provider_txn_id, reason=reason, message=LATE_CAPTURE_MESSAGES[reason])


def late_capture_reason(order: Order, intent_id: str) -> str | None:
    """Why a capture of ``intent_id`` cannot pay ``order``, or None if it can (or already did: the
    capture that paid the order, delivered again, is not late)."""
    if order.provider_txn_id is not None and intent_id == order.intent_id:
        return None
    if order.status is OrderStatus.EXPIRED:
        return "order_expired"
    if order.status is OrderStatus.CANCELLED:
        return "order_cancelled"
    if order.status in (OrderStatus.PAID, OrderStatus.REFUND_PENDING):
        return "already_paid"
    if intent_id != order.intent_id:
        return "superseded_attempt"
    return None


def provider_timeout(order: Order | None, intent_id: str) -> Decision:
    """The provider did not answer in time: the buyer is told and may pay again."""
    if order is None or order.status is not OrderStatus.PAYMENT_PENDING or order.intent_id != intent_id:
        return Decision(order, [])
    waiting = replace(order, status=OrderStatus.AWAITING_PAYMENT)
    return Decision(waiting, [PaymentFailed(order_id=order.order_id, intent_id=intent_id, buyer_id=order.buyer_id,
                                            reason="provider_timeout", message=FAILURE_MESSAGES["provider_timeout"])])


def expire(order: Order | None) -> Decision:
    """The unpaid-order deadline passed. A payment awaiting the provider postpones it."""
    if order is None or order.status is not OrderStatus.AWAITING_PAYMENT:
        return Decision(order, [])
    expired = replace(order, status=OrderStatus.EXPIRED)
    return Decision(expired, [OrderExpired(order_id=order.order_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id)])


def cancel(order: Order | None, command: CancelOrder, actor: Actor) -> Decision:
    """Buyer or merchant cancels. Unpaid: closed at once. Paid: escrow refunds it in full unless the goods
    shipped (then it is a refund case, not a cancellation): a guaranteed order from its hold, one without the
    guarantee from the merchant's balance."""
    if order is None:
        raise Rejected("order_not_found", f"order {command.order_id} does not exist", command.order_id)
    if actor.kind is ActorKind.BUYER and actor.id == order.buyer_id:
        party, allowed = "buyer", BUYER_REASONS
    elif actor.kind is ActorKind.MERCHANT and actor.id == order.merchant_id:
        party, allowed = "merchant", MERCHANT_REASONS
    else:
        raise Rejected("forbidden", "only the order's buyer or merchant may cancel it", order.order_id)
    if command.reason not in allowed:
        raise Rejected("invalid_reason", f"{command.reason.value} is not a {party}'s reason", order.order_id)
    if order.status in CLOSED:
        raise Rejected("order_closed", f"the order is already {order.status.value}", order.order_id)
    if order.status is OrderStatus.PAYMENT_PENDING:
        raise Rejected("payment_in_progress", "wait for the provider's answer, then cancel", order.order_id)
    if order.status is OrderStatus.REFUND_PENDING:
        raise Rejected("cancellation_in_progress", "the order is already being cancelled", order.order_id)
    closing = replace(order, cancel_party=party, cancel_reason=command.reason, cancel_note=command.note)
    if order.status in (OrderStatus.AWAITING_PAYMENT, OrderStatus.RISK_REVIEW):  # nothing was charged
        return Decision(replace(closing, status=OrderStatus.CANCELLED), [_cancelled(closing, 0)])
    return Decision(replace(closing, status=OrderStatus.REFUND_PENDING), [RefundRequested(
        order_id=order.order_id, buyer_id=order.buyer_id, amount=order.amount, party=party, reason=command.reason)])


def hold_for_review(order: Order, method: PaymentMethod) -> Order:
    """A risk rule holds the payment: nothing is charged until an operator decides."""
    return replace(order, status=OrderStatus.RISK_REVIEW, method=method)


def review_released(order: Order | None) -> Order | None:
    """The operator released the held payment: the order may be paid, with the method the buyer chose."""
    if order is None or order.status is not OrderStatus.RISK_REVIEW:
        return None
    return replace(order, status=OrderStatus.AWAITING_PAYMENT)


def review_rejected(order: Order | None) -> Decision:
    """The operator rejected the held payment: the order closes; nothing was charged."""
    if order is None or order.status is not OrderStatus.RISK_REVIEW:
        return Decision(order, [])
    closing = replace(order, status=OrderStatus.CANCELLED, cancel_party="platform", cancel_reason=CancelReason.RISK_REJECTED)
    return Decision(closing, [_cancelled(closing, 0)])


def refund_settled(order: Order | None, refunded: int, reason: str) -> Decision:
    """Escrow refunded the cancelled order (its hold, or a direct payment from the merchant's balance). A dispute
    case's refund from the same hold (``case_refund``) is no answer to the cancellation, which goes on waiting."""
    if order is None or order.status is not OrderStatus.REFUND_PENDING or not reason.startswith("cancelled_by_"):
        return Decision(order, [])
    return Decision(replace(order, status=OrderStatus.CANCELLED), [_cancelled(order, refunded)])


def refund_refused(order: Order | None, reason: str) -> Decision:
    """Escrow could not refund (the goods shipped meanwhile, a case is open, or the merchant's balance cannot give a
    direct payment back, which the disputes service then refunds as a case): the order stays paid."""
    if order is None or order.status is not OrderStatus.REFUND_PENDING:
        return Decision(order, [])
    kept = replace(order, status=OrderStatus.PAID, cancel_party=None, cancel_reason=None, cancel_note=None)
    return Decision(kept, [CancellationRefused(order_id=order.order_id, reason=reason)])


@dataclass(frozen=True)
class CancellationPolicy:
    """Frequent cancellation by a buyer: a warning at ``warn`` within the window, and at ``restrict``
    new orders for that buyer are refused for ``restrict_for``."""

    window: timedelta
    warn: int
    restrict: int
    restrict_for: timedelta

    def apply(self, buyer_id: str, cancellations: int, now: datetime) -> list[Payload]:
        if cancellations >= self.restrict:
            return [BuyerRestricted(buyer_id=buyer_id, cancellations=cancellations, until=now + self.restrict_for)]
        if cancellations == self.warn:
            return [BuyerCancellationWarning(buyer_id=buyer_id, cancellations=cancellations,
                                             window_hours=int(self.window.total_seconds() // 3600), restrict_at=self.restrict)]
        return []


def _cancelled(order: Order, refunded: int) -> OrderCancelled:
    assert order.cancel_party and order.cancel_reason
    return OrderCancelled(order_id=order.order_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id,
                          party=order.cancel_party, reason=order.cancel_reason, note=order.cancel_note,
                          refunded=Money(amount=refunded, currency=order.amount.currency))


def _terms(order: Order) -> tuple[object, ...]:
    return (order.merchant_id, order.buyer_id, order.items, order.amount, order.guaranteed, order.auto_confirm_days)
