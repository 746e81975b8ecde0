"""The refunds check: cancellation refunds, case refunds, late captures and refunds paid out.

refunds
    An ``escrow.hold.refunded`` ``cancelled_by_<party>`` has a ``payments.refund.requested`` or a
    ``payments.order.cancelled`` of its order by that party and of its amount, and an order has at
    most one. The ``case_refund`` ones match, per order, what the ``escrow.case_refund.executed``
    took from the hold (the same amounts). Any other reason is a breach. An
    ``escrow.direct_payment.refunded`` (a payment without the guarantee) has its party's
    ``payments.refund.requested`` of its amount, which is the direct payment's, given back by the
    merchant and the fee. A
    ``case_refund.executed`` (one per ``refund_id``) carries out the ``disputes.refund.ordered``
    of that id (case, order, amount), and from_hold + from_merchant + shortfall = amount. A
    ``refund.ordered`` (one per ``refund_id``) is for a ``disputes.case.opened`` (one per case)
    on its order and follows an outcome of that case and amount: ``disputes.negotiation.agreed``
    (basis ``agreed``) or a ``disputes.case.ruled`` that is not a rejection (basis ``ruled``), no
    more orders than such outcomes; a case orders at most what the buyer paid
    (``case.opened.paid``). An order gives back at most what was paid: cancellation refunds + case
    refunds covered (hold and merchant) + compensation <= the payment. An
    ``escrow.late_capture.booked`` (one per intent) has its ``payments.payment.captured_late``
    (one per intent; same order, amount): a refund of its
    own, accepted and counted. An ``escrow.refund.paid_out`` (one per ``refund_id``) pays what was
    owed, of that order and amount: a late capture's ``refund_id``, a case refund's or a
    compensation's ``provider_refund_id``, or else a cancellation refund of the order (no event
    carries a cancellation's provider refund id, so it is matched by order and amount).
"""

from __future__ import annotations

from collections import Counter

from ops.audit.core import CANCELLED_BY, CheckResult, Stream, fen, first
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import payments as p


def check(s: Stream, r: CheckResult) -> None:
    ordered = s.once(r, d.RefundOrdered, "refund_id")
    executed = s.once(r, e.CaseRefundExecuted, "refund_id")
    for x in s.all(e.DirectPaymentRefunded):
        r.checked += 1
        party = x.reason.removeprefix(CANCELLED_BY)
        r.expect(x.reason.startswith(CANCELLED_BY) and any(q.party == party and q.amount == x.amount
                                                           for q in s.of(x.order_id, p.RefundRequested)),
                 f"{x.order_id}: {x.amount.amount} refunded {x.reason} without the guarantee, but that party never cancelled it")
        payment = first(s.of(x.order_id, p.PaymentSucceeded))
        r.expect(payment is not None and not payment.guaranteed and x.amount == payment.amount
                 and x.from_merchant + x.fee_returned == x.amount.amount and x.fee_returned == payment.fee,
                 f"{x.order_id}: a cancellation refund of {x.amount.amount} without the guarantee that is not the payment "
                 "given back by the merchant and the fee")
    for x in s.all(e.HoldRefunded):
        r.checked += 1
        party = x.reason.removeprefix(CANCELLED_BY)
        if x.reason.startswith(CANCELLED_BY):
            asked = any(q.party == party and q.amount == x.amount for q in s.of(x.order_id, p.RefundRequested))
            told = any(c.party == party and c.refunded == x.amount for c in s.of(x.order_id, p.OrderCancelled))
            r.expect(asked or told, f"{x.order_id}: {x.amount.amount} refunded {x.reason}, but that party never cancelled it")
        else:
            r.expect(x.reason == "case_refund", f"{x.order_id}: {x.amount.amount} refunded for an unknown reason {x.reason}")
    for o in s.orders:
        refunds = s.cancellation_refunds(o)
        r.expect(len(refunds) <= 1, f"{o}: {len(refunds)} cancellation refunds")
        from_hold = sorted(x.amount.amount for x in s.of(o, e.HoldRefunded) if x.reason == "case_refund")
        taken = sorted(x.from_hold for x in s.of(o, e.CaseRefundExecuted) if x.from_hold)
        r.expect(from_hold == taken, f"{o}: the hold refunded {from_hold} for cases, the executed case refunds took {taken}")
        payment = first(s.of(o, p.PaymentSucceeded))
        given = (fen(refunds) + sum(x.from_hold + x.from_merchant for x in s.of(o, e.CaseRefundExecuted))
                 + fen(s.of(o, e.CompensationPaid)))
        r.expect(payment is None or given <= payment.amount.amount,
                 f"{o}: {given} given back, {payment.amount.amount if payment else 0} paid")
    for refund_id, x in executed.items():
        r.checked += 1
        order = ordered.get(refund_id)
        r.expect(order is not None and (order.case_id, order.order_id, order.amount) == (x.case_id, x.order_id, x.amount),
                 f"{refund_id}: executed without a refund order of case {x.case_id}, order {x.order_id} and {x.amount.amount}")
        r.expect(min(x.from_hold, x.from_merchant, x.shortfall) >= 0 and x.from_hold + x.from_merchant + x.shortfall == x.amount.amount,
                 f"{refund_id}: from the hold {x.from_hold}, the merchant {x.from_merchant} and short {x.shortfall} "
                 f"do not make {x.amount.amount}")
    _refund_orders(s, ordered, r)
    _late_and_paid_out(s, executed, r)


def _refund_orders(s: Stream, ordered: dict[str, d.RefundOrdered], r: CheckResult) -> None:
    opened = s.once(r, d.CaseOpened, "case_id")
    outcomes = Counter((x.case_id, "agreed", x.amount.amount) for x in s.all(d.NegotiationAgreed))
    outcomes.update((x.case_id, "ruled", x.amount.amount) for x in s.all(d.CaseRuled) if x.decision is not d.RulingDecision.REJECT)
    uses = Counter((x.case_id, x.basis, x.amount.amount) for x in ordered.values())
    per_case: Counter[str] = Counter()
    for refund_id, x in ordered.items():
        r.checked += 1
        case = opened.get(x.case_id)
        r.expect(case is not None and case.order_id == x.order_id, f"{refund_id}: for case {x.case_id}, never opened on {x.order_id}")
        key = (x.case_id, x.basis, x.amount.amount)
        r.expect(uses[key] <= outcomes[key], f"{refund_id}: {x.amount.amount} ordered as {x.basis}, but case {x.case_id} "
                                             f"came to that {outcomes[key]} times")
        per_case[x.case_id] += x.amount.amount
    for case_id, total in sorted(per_case.items()):
        paid = opened[case_id].paid.amount if case_id in opened else 0
        r.expect(total <= paid, f"{case_id}: {total} ordered, {paid} paid")


def _late_and_paid_out(s: Stream, executed: dict[str, e.CaseRefundExecuted], r: CheckResult) -> None:
    captured = s.once(r, p.PaymentCapturedLate, "intent_id")
    booked = s.once(r, e.LateCaptureBooked, "intent_id")
    for intent_id, x in booked.items():
        r.checked += 1
        late = captured.get(intent_id)
        r.expect(late is not None and (late.order_id, late.amount) == (x.order_id, x.amount),
                 f"{intent_id}: late capture of {x.amount.amount} booked, which payments never recorded")
    owed = {x.refund_id: (x.order_id, x.amount.amount) for x in booked.values()}
    owed |= {x.provider_refund_id: (x.order_id, x.from_hold + x.from_merchant) for x in executed.values() if x.provider_refund_id}
    owed |= {x.provider_refund_id: (x.order_id, x.amount.amount) for x in s.all(e.CompensationPaid)}
    owed |= {x.provider_refund_id: (x.order_id, x.amount.amount) for x in s.all(e.DirectPaymentRefunded)}
    for refund_id, x in s.once(r, e.RefundPaidOut, "refund_id").items():
        r.checked += 1
        due = owed.get(refund_id)
        cancellation = any(c.amount == x.amount for c in s.cancellation_refunds(x.order_id))
        r.expect(due == (x.order_id, x.amount.amount) if due else cancellation,
                 f"{refund_id}: {x.amount.amount} paid out to {x.buyer_id} on {x.order_id}, which no refund owed")
