"""The orders check: what each order's events say together, and the state each folds into.

orders
    Every order any event names (``data.order_id``: payments, escrow and its ledger entries,
    disputes, insurer claims) was created (``payments.order.created``). At most one
    ``payments.order.created``, ``payments.payment.succeeded``, ``escrow.hold.created``,
    ``escrow.merchant.credited``, ``payments.order.expired`` and ``payments.order.cancelled``
    per order. The payment matches the order (amount, buyer, merchant, guaranteed); a hold is only
    for a guaranteed payment, of its amount; a credit only for a direct one. An expired order was
    neither paid nor cancelled. A cancelled order was not released, its ``refunded`` equals its
    cancellation refunds (from the hold, or a direct payment's ``escrow.direct_payment.refunded``), and
    for a paid order that is the whole payment. No cancellation refund of a shipped order. A late capture's reason agrees with the order
    (``order_expired``: it expired; ``order_cancelled``: it was cancelled; ``already_paid``: it
    was paid), and no intent both paid the order and was captured late.
    Each order folds into one state, the first that applies: ``expired``, ``cancelled``,
    ``cancelling`` (a cancellation refund requested and not answered, or refunded and not yet
    reported cancelled), ``released``, ``refunded`` (its hold refunded in full by cases),
    ``credited`` (a direct payment), ``in_case`` (its hold frozen by a case not yet closed),
    ``shipped``, ``held``, ``paid`` (escrow has not booked it yet), ``awaiting_payment``.
    The live states (``awaiting_payment``, ``paid``, ``held``, ``shipped``, ``in_case``,
    ``cancelling``) are not breaches.
"""

from __future__ import annotations

from collections import Counter

from ops.audit.core import CheckResult, Stream, fen, first, type_of
from shared.contracts import escrow as e
from shared.contracts import payments as p

LIVE_STATES = ("awaiting_payment", "paid", "held", "shipped", "in_case", "cancelling")


def check(s: Stream, r: CheckResult) -> None:
    for o, types in s.orders.items():
        r.checked += 1
        order, payment = first(s.of(o, p.OrderCreated)), first(s.of(o, p.PaymentSucceeded))
        hold, cancelled = first(s.of(o, e.HoldCreated)), first(s.of(o, p.OrderCancelled))
        expired = s.of(o, p.OrderExpired)
        r.expect(order is not None, f"{o}: {', '.join(sorted(types))}, but the order was never created")
        for kind in (p.OrderCreated, p.PaymentSucceeded, e.HoldCreated, e.MerchantCredited, p.OrderExpired, p.OrderCancelled):
            count = len(s.of(o, kind))
            r.expect(count <= 1, f"{o}: {type_of(kind)} {count} times")
        if order and payment:
            r.expect((payment.amount, payment.buyer_id, payment.merchant_id, payment.guaranteed)
                     == (order.amount, order.buyer_id, order.merchant_id, order.guaranteed), f"{o}: the payment does not match the order")
        if hold:
            r.expect(payment is not None and payment.guaranteed and payment.amount == hold.amount,
                     f"{o}: hold {hold.hold_id} without a guaranteed payment of its amount")
        if s.of(o, e.MerchantCredited):
            r.expect(payment is not None and not payment.guaranteed, f"{o}: credited to the merchant without a direct payment")
        r.expect(not (expired and (payment or cancelled)), f"{o}: expired, yet paid or cancelled")
        refunded = fen(s.cancellation_refunds(o))
        if cancelled:
            r.expect(not s.of(o, e.HoldReleased), f"{o}: cancelled and released")
            r.expect(cancelled.refunded.amount == refunded,
                     f"{o}: cancelled with {cancelled.refunded.amount} refunded, but the hold refunded {refunded} for it")
            r.expect(payment is None or refunded == payment.amount.amount,
                     f"{o}: cancelled after payment, yet {refunded} of {payment.amount.amount if payment else 0} refunded")
        r.expect(not (refunded and (s.of(o, e.ShipmentRecorded) or s.of(o, e.DirectOrderShipped))),
                 f"{o}: refunded for a cancellation after shipment")
        implied = {"order_expired": bool(expired), "order_cancelled": cancelled is not None, "already_paid": payment is not None}
        for late in s.of(o, p.PaymentCapturedLate):
            r.expect(payment is None or late.intent_id != payment.intent_id,
                     f"{o}: intent {late.intent_id} both paid the order and was captured late")
            r.expect(implied.get(late.reason, True), f"{o}: late capture {late.intent_id} says {late.reason}, "
                                                     "which the order's events contradict")



def state(s: Stream, o: str) -> str:
    hold = first(s.of(o, e.HoldCreated))
    frozen = {x.case_id for x in s.of(o, e.HoldFrozen)} - {x.case_id for x in s.of(o, e.HoldUnfrozen)}
    answered = len(s.of(o, e.RefundRefused)) + len(s.cancellation_refunds(o))
    facts = (
        ("expired", s.of(o, p.OrderExpired)),
        ("cancelled", s.of(o, p.OrderCancelled)),
        ("cancelling", s.cancellation_refunds(o) or len(s.of(o, p.RefundRequested)) > answered),
        ("released", s.of(o, e.HoldReleased)),
        ("refunded", hold and fen(s.of(o, e.HoldRefunded)) >= hold.amount.amount),
        ("credited", s.of(o, e.MerchantCredited)),
        ("in_case", frozen),
        ("shipped", s.of(o, e.ShipmentRecorded) or s.of(o, e.DirectOrderShipped)),
        ("held", hold),
        ("paid", s.of(o, p.PaymentSucceeded)),
        ("awaiting_payment", s.of(o, p.OrderCreated)),
    )
    return next((state for state, applies in facts if applies), "never_created")


def states(s: Stream) -> dict[str, int]:
    """How many orders fold into each state."""
    return dict(sorted(Counter(state(s, o) for o in s.orders).items()))

