"""Contracts of the disputes service: refund requests (cases), negotiation, arbitration, priority
compensation, insurer claims and the three-day verification.

Commands and events about a case are keyed by its **order id**, so everything about one order
stays in order on one partition. Every event names the case, the order, the buyer and the merchant.

The commands (with their codes) are in ``dispute_commands``, the events in ``dispute_events``; this module
is the topics' contracts and names them all.
"""

from __future__ import annotations

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import rejection_payload
from shared.contracts.dispute_commands import (
    AddEvidence,
    AnswerCounterOffer,
    CASE_ID,
    CaseReason,
    CaseStatus,
    ConfirmReturnReceipt,
    EscalateCase,
    Evidence,
    MerchantResponse,
    NOTE,
    OpenCase,
    RecordReturnShipment,
    RespondToCase,
    RuleOnCase,
    RulingDecision,
    SubmitFeedback,
    WithdrawCase,
)
from shared.contracts.dispute_events import (
    ArbitrationOverdue,
    CaseClosed,
    CaseEscalated,
    CaseEvent,
    CaseOpened,
    CaseReopened,
    CaseRuled,
    ClaimDecisionRecorded,
    ClaimPaymentRecorded,
    CompensationGranted,
    CounterOfferAnswered,
    EvidenceAdded,
    FeedbackReceived,
    FeedbackRequested,
    MerchantResponded,
    NegotiationAgreed,
    NegotiationFailed,
    RefundOrdered,
    RefundVerified,
    ReturnReceived,
    ReturnRequested,
    ReturnShipped,
    RuleProposal,
    VerificationStarted,
)

# The events that put a case into a waiting state, each with the field announcing that state's deadline; an event
# whose field is empty did not (an accepted counter-offer, a merchant's accept or reject). Every waiting state is
# entered by one of these, so the latest one of an open case names the deadline it waits for.
DEADLINES: dict[str, str] = {
    CaseOpened.TYPE: "respond_by",
    MerchantResponded.TYPE: "answer_by",
    CounterOfferAnswered.TYPE: "respond_by",
    NegotiationFailed.TYPE: "escalate_by",
    CaseEscalated.TYPE: "rule_by",
    ArbitrationOverdue.TYPE: "default_ruling_at",
    ReturnRequested.TYPE: "return_by",
    ReturnShipped.TYPE: "confirm_by",
    VerificationStarted.TYPE: "day3_at",
    CaseReopened.TYPE: "respond_by",
}

DisputesCommandRejected = rejection_payload("disputes")

COMMANDS = TopicContract(
    topics.commands("disputes"),
    "Refund requests and their negotiation, escalation and rulings: from buyers', merchants' and arbitrators' apps.",
    [OpenCase, AddEvidence, RespondToCase, AnswerCounterOffer, EscalateCase, RuleOnCase, RecordReturnShipment,
     ConfirmReturnReceipt, WithdrawCase, SubmitFeedback],
)
EVENTS = TopicContract(
    topics.events("disputes"),
    "Cases: negotiation rounds, escalation, rulings, refund orders, priority compensation, insurer claims and the "
    "three-day verification.",
    [CaseOpened, EvidenceAdded, MerchantResponded, CounterOfferAnswered, NegotiationAgreed, NegotiationFailed,
     CaseEscalated, ArbitrationOverdue, CaseRuled, ReturnRequested, ReturnShipped, ReturnReceived, RefundOrdered,
     CompensationGranted, ClaimDecisionRecorded, ClaimPaymentRecorded,
     VerificationStarted, RefundVerified, FeedbackRequested, FeedbackReceived, CaseReopened, CaseClosed,
     DisputesCommandRejected],
)

__all__ = [
    "AddEvidence",
    "AnswerCounterOffer",
    "ArbitrationOverdue",
    "CASE_ID",
    "COMMANDS",
    "CaseClosed",
    "CaseEscalated",
    "CaseEvent",
    "CaseOpened",
    "CaseReason",
    "CaseReopened",
    "CaseRuled",
    "CaseStatus",
    "ClaimDecisionRecorded",
    "ClaimPaymentRecorded",
    "CompensationGranted",
    "ConfirmReturnReceipt",
    "CounterOfferAnswered",
    "DEADLINES",
    "DisputesCommandRejected",
    "EVENTS",
    "EscalateCase",
    "Evidence",
    "EvidenceAdded",
    "FeedbackReceived",
    "FeedbackRequested",
    "MerchantResponded",
    "MerchantResponse",
    "NOTE",
    "NegotiationAgreed",
    "NegotiationFailed",
    "OpenCase",
    "RecordReturnShipment",
    "RefundOrdered",
    "RefundVerified",
    "RespondToCase",
    "ReturnReceived",
    "ReturnRequested",
    "ReturnShipped",
    "RuleOnCase",
    "RuleProposal",
    "RulingDecision",
    "SubmitFeedback",
    "VerificationStarted",
    "WithdrawCase",
]
