"""The disputes service's pure domain, in one place for its callers: the case and what every step shares
(``cases``), negotiation (``negotiation``), platform arbitration (``arbitration``), and verification with
priority compensation (``verification``). ``cases`` draws the whole state machine; none of them does I/O.
"""

from __future__ import annotations

from services.disputes.arbitration import RULES, ArbitrationRule, escalate, propose, rule
from services.disputes.cases import (
    ALL_TIMERS,
    CHINA,
    ESCALATION_WINDOW,
    MERCHANT_DEADLINE,
    OPEN_STATES,
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
    escalation_lapsed,
    merchant_deadline,
    open_case,
    respond,
    withdraw,
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
    "ALL_TIMERS", "CHINA", "ESCALATION_WINDOW", "MERCHANT_DEADLINE", "OPEN_STATES", "RULES", "VERIFY_DAYS",
    "ArbitrationRule", "Case", "CaseDecision", "OrderView", "Policy", "Timer", "add_evidence", "answer_counter_offer",
    "claim_id", "compensation_id", "escalate", "escalation_lapsed", "merchant_deadline", "open_case", "order_key",
    "propose", "refund_executed", "refund_id", "respond", "rule", "submit_feedback", "verification_day", "withdraw",
    "year_of",
]
