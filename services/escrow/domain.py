"""Escrow's pure domain, in one place for its callers: the ledger (``ledger``), holds (``holds``), payments
without the guarantee (``direct``), the money side of dispute cases (``cases``) and money in and out through
the provider and the bank (``transfers``). Each module's docstring says what it books and why; none does I/O.
"""

from __future__ import annotations

from services.escrow.cases import (
    CaseRefund,
    Compensation,
    claim_approved,
    claim_paid,
    execute_case_refund,
    freeze,
    grant_compensation,
    unfreeze,
)
from services.escrow.direct import DirectDecision, DirectPayment
from services.escrow.holds import (
    SETTLED,
    Capture,
    Hold,
    HoldDecision,
    HoldStatus,
    auto_confirm,
    capture,
    confirm_receipt,
    record_shipment,
    refund,
    refund_for_cancellation,
    release,
    release_fee,
)
from services.escrow.ledger import (
    COMPENSATION_POOL,
    ESCROW_HOLDING,
    INSURER_RECEIVABLE,
    PLATFORM_FEES,
    PSP_CLEARING,
    JournalEntry,
    UnbalancedEntry,
    buyer_refunds_payable,
    entry,
    merchant_available,
    merchant_payout_pending,
    merchant_recovery_receivable,
    recovery,
)
from services.escrow.transfers import (
    REFUND_PAID_MESSAGE,
    LateCapture,
    LateCaptureDecision,
    LateCaptureStatus,
    book_late_capture,
    late_capture_refunded,
    payout_paid,
    payout_returned,
    refund_paid_out,
    reserve_payout,
)

__all__ = [
    "COMPENSATION_POOL", "ESCROW_HOLDING", "INSURER_RECEIVABLE", "PLATFORM_FEES", "PSP_CLEARING", "REFUND_PAID_MESSAGE",
    "SETTLED", "Capture", "CaseRefund", "Compensation", "DirectDecision", "DirectPayment", "Hold", "HoldDecision", "HoldStatus", "JournalEntry",
    "LateCapture", "LateCaptureDecision", "LateCaptureStatus", "UnbalancedEntry", "auto_confirm", "book_late_capture",
    "buyer_refunds_payable", "capture", "claim_approved", "claim_paid", "confirm_receipt", "entry",
    "execute_case_refund", "freeze", "grant_compensation", "late_capture_refunded", "merchant_available",
    "merchant_payout_pending", "merchant_recovery_receivable", "payout_paid", "payout_returned", "record_shipment",
    "recovery", "refund", "refund_for_cancellation", "refund_paid_out", "release", "release_fee", "reserve_payout",
    "unfreeze",
]
