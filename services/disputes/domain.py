"""The disputes service's pure domain, in one place for its callers: the case, its deadlines and outcomes
(``cases``, which draws the whole state machine), negotiation (``negotiation``), platform arbitration
(``arbitration``), the return step of a ruling that refunds on return (``returns``), and verification with
priority compensation (``verification``). None of them does I/O.
"""

from __future__ import annotations

from services.disputes.arbitration import (
    RULES,
    SYSTEM_ARBITRATOR,
    UNPROVEN,
    ArbitrationRule,
    apply_default_ruling,
    arbitration_overdue,
    default_ruling,
    escalate,
    propose,
    rule,
)
from services.disputes.cases import (
    ALL_TIMERS,
    ARBITRATION_DEADLINE,
    CHINA,
    COUNTER_OFFER_DEADLINE,
    DEFAULT_RULING,
    ESCALATION_WINDOW,
    MERCHANT_DEADLINE,
    OPEN_STATES,
    RETURN_RECEIPT_DEADLINE,
    RETURN_SHIPMENT_DEADLINE,
    VERIFY_DAYS,
    Case,
    CaseDecision,
    OrderView,
    Policy,
    Timer,
    order_key,
    refund_id,
)
from services.disputes.negotiation import (
    add_evidence,
    answer_counter_offer,
    cancellation_case_id,
    counter_offer_lapsed,
    escalation_lapsed,
    merchant_deadline,
    open_case,
    open_for_cancellation,
    respond,
    withdraw,
)
from services.disputes.returns import (
    confirm_return_receipt,
    record_return_shipment,
    request_return,
    return_receipt_lapsed,
    return_shipment_lapsed,
)
from services.disputes.verification import (
    claim_id,
    compensation_id,
    refund_executed,
    submit_feedback,
    verification_day,
    year_of,
)

__all__ = [
    "ALL_TIMERS", "ARBITRATION_DEADLINE", "CHINA", "COUNTER_OFFER_DEADLINE", "DEFAULT_RULING", "ESCALATION_WINDOW",
    "MERCHANT_DEADLINE", "OPEN_STATES", "RETURN_RECEIPT_DEADLINE", "RETURN_SHIPMENT_DEADLINE", "RULES",
    "SYSTEM_ARBITRATOR", "UNPROVEN", "VERIFY_DAYS", "ArbitrationRule", "Case", "CaseDecision", "OrderView", "Policy",
    "Timer", "add_evidence", "answer_counter_offer", "apply_default_ruling", "arbitration_overdue",
    "cancellation_case_id", "claim_id", "compensation_id", "confirm_return_receipt", "counter_offer_lapsed",
    "default_ruling", "escalate", "escalation_lapsed", "merchant_deadline", "open_case", "open_for_cancellation",
    "order_key", "propose", "record_return_shipment", "refund_executed", "refund_id", "request_return", "respond",
    "return_receipt_lapsed", "return_shipment_lapsed", "rule", "submit_feedback", "verification_day", "withdraw",
    "year_of",
]
