"""The compensations check: priority compensation, its recovery and the insurer's claims.

compensations
    An ``escrow.compensation.paid`` (one per ``compensation_id``) has its
    ``disputes.compensation.granted`` (one per id; same case, order, buyer, merchant, amount), whose
    claim was filed with the insurer (``insurer.claim.filed``, one per claim id; same case, order,
    merchant, amount), for a refund order executed short of at least that much. The recovery: per
    order and merchant, the compensation paid equals what the ``recovery_booked`` entries book as owed
    (``merchant_recovery_receivable:<merchant>``), and per order what the ``compensation_paid``
    entries take from the ``compensation_pool``. Per merchant, ``escrow.recovery.repaid`` never
    exceeds the compensation paid for it. ``disputes.claim.decided`` and ``disputes.claim.paid``
    (one each per claim) are for a granted claim: claimed = granted, approved <= claimed,
    paid <= approved.
"""

from __future__ import annotations

from collections import Counter

from ops.audit.core import CheckResult, Stream
from services.escrow.domain import COMPENSATION_POOL, merchant_recovery_receivable
from shared.contracts import disputes as d
from shared.contracts import escrow as e
from shared.contracts import insurer


def check(s: Stream, r: CheckResult) -> None:
    entries = s.entries
    granted = s.once(r, d.CompensationGranted, "compensation_id")
    claims = s.once(r, insurer.ClaimFiled, "claim_id")
    executed = {x.refund_id: x for x in s.all(e.CaseRefundExecuted)}
    paid = s.once(r, e.CompensationPaid, "compensation_id")
    for compensation_id, x in paid.items():
        r.checked += 1
        grant = granted.get(compensation_id)
        if grant is None:
            r.breaches.append(f"{compensation_id}: {x.amount.amount} paid to {x.buyer_id}, never granted")
            continue
        parties = (x.case_id, x.order_id, x.buyer_id, x.merchant_id, x.amount)
        r.expect((grant.case_id, grant.order_id, grant.buyer_id, grant.merchant_id, grant.amount) == parties,
                 f"{compensation_id}: paid otherwise than granted")
        claim = claims.get(grant.claim_id)
        r.expect(claim is not None and (claim.case_id, claim.order_id, claim.merchant_id, claim.amount)
                 == (x.case_id, x.order_id, x.merchant_id, x.amount), f"{compensation_id}: no claim {grant.claim_id} filed for it")
        short = executed.get(grant.refund_id)
        r.expect(short is not None and short.case_id == x.case_id and short.shortfall >= x.amount.amount,
                 f"{compensation_id}: granted for refund {grant.refund_id}, not executed short of {x.amount.amount}")
    owed: Counter[tuple[str, str]] = Counter()
    pool: Counter[str] = Counter()
    for x in paid.values():
        owed[(x.order_id, x.merchant_id)] += x.amount.amount
        pool[x.order_id] -= x.amount.amount
    booked: Counter[tuple[str, str]] = Counter()
    prefix = merchant_recovery_receivable("")
    for entry in entries.values():
        for line in entry.lines:
            if entry.kind == "recovery_booked" and line.account.startswith(prefix):
                booked[(entry.order_id or "", line.account.removeprefix(prefix))] += line.amount
            if entry.kind == "compensation_paid" and line.account == COMPENSATION_POOL:
                pool[entry.order_id or ""] += line.amount
    for order_id, merchant_id in sorted(owed.keys() | booked.keys()):
        r.expect(owed[(order_id, merchant_id)] == booked[(order_id, merchant_id)],
                 f"{order_id}: compensation {owed[(order_id, merchant_id)]} paid for {merchant_id}, "
                 f"{booked[(order_id, merchant_id)]} booked as owed by it")
    for order_id, gap in sorted(pool.items()):
        r.expect(gap == 0, f"{order_id}: the compensation_paid entries and the compensation paid differ by {gap}")
    _recoveries_and_claims(s, paid, granted, r)


def _recoveries_and_claims(s: Stream, paid: dict[str, e.CompensationPaid], granted: dict[str, d.CompensationGranted],
                           r: CheckResult) -> None:
    compensated: Counter[str] = Counter()
    for x in paid.values():
        compensated[x.merchant_id] += x.amount.amount
    repaid: Counter[str] = Counter()
    for repayment in s.all(e.RecoveryRepaid):
        repaid[repayment.merchant_id] += repayment.amount.amount
    for merchant_id, total in sorted(repaid.items()):
        r.expect(total <= compensated[merchant_id], f"{merchant_id}: repaid {total}, owed at most {compensated[merchant_id]}")
    by_claim = {x.claim_id: x for x in granted.values()}
    decided = s.once(r, d.ClaimDecisionRecorded, "claim_id")
    for claim_id, decision in decided.items():
        r.checked += 1
        grant = by_claim.get(claim_id)
        r.expect(grant is not None and decision.claimed == grant.amount and decision.approved.amount <= decision.claimed.amount,
                 f"{claim_id}: decided {decision.approved.amount} of {decision.claimed.amount}, not a granted claim's amount")
    for claim_id, payment in s.once(r, d.ClaimPaymentRecorded, "claim_id").items():
        r.checked += 1
        approved = decided[claim_id].approved.amount if claim_id in decided else 0
        r.expect(payment.amount.amount <= approved, f"{claim_id}: the insurer paid {payment.amount.amount}, {approved} approved")
