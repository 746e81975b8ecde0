"""Events of the disputes service (see ``disputes``): every one names the case, the order, the buyer and
the merchant."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from shared.contracts.common import BuyerRef, MerchantRef, OrderRef
from shared.contracts.dispute_commands import CaseReason, Evidence, MerchantResponse, RulingDecision
from shared.envelope import Payload
from shared.money import Money


class CaseEvent(Payload):
    """What every case event names."""

    case_id: str = Field(description="The case.", examples=["C-20261123-0001"])
    order_id: OrderRef
    buyer_id: BuyerRef
    merchant_id: MerchantRef


class CaseOpened(CaseEvent):
    """A buyer's refund request opened a case; the merchant must answer by ``respond_by`` (silence accepts it).
    A case the platform opened for a cancellation the merchant's balance could not refund (``origin``
    ``cancellation``) asks nothing of the merchant: it is agreed at once (``respond_by`` is its opening time)."""

    TYPE: ClassVar[str] = "disputes.case.opened"

    reason: CaseReason = Field(description="Why.", examples=["price_difference"])
    requested: Money = Field(description="Refund asked for.")
    paid: Money = Field(description="What the buyer paid for the order.")
    description: str = Field(description="The buyer's account.", examples=["到手价比页面标价高了38元"])
    evidence: list[Evidence] = Field(description="Evidence given.")
    respond_by: datetime = Field(description="The merchant's deadline (UTC).", examples=["2026-11-25T08:30:00Z"])
    origin: str = Field(default="buyer", description="`buyer` (the buyer's request) or `cancellation` (the platform "
                                                     "opened it for a paid order cancelled before shipment whose refund "
                                                     "the merchant's balance could not cover).", examples=["buyer"])


class EvidenceAdded(CaseEvent):
    """Evidence was added to a case."""

    TYPE: ClassVar[str] = "disputes.evidence.added"

    party: str = Field(description="`buyer` or `merchant`.", examples=["merchant"])
    evidence: list[Evidence] = Field(description="The new evidence.")


class MerchantResponded(CaseEvent):
    """One negotiation round: the merchant accepted, rejected or counter-offered."""

    TYPE: ClassVar[str] = "disputes.case.merchant_responded"

    round: int = Field(description="Negotiation round, from 1.", examples=[1])
    response: MerchantResponse = Field(description="The answer.", examples=["counter_offer"])
    requested: Money = Field(description="What the buyer asked for in this round.")
    amount: Money | None = Field(default=None, description="The counter-offer.")
    note: str | None = Field(default=None, description="The merchant's note.", examples=["请先退货 / please return the goods first"])
    answer_by: datetime | None = Field(default=None, description="A counter-offer: the buyer's deadline to answer (UTC); "
                                       "silence accepts the counter-offer.", examples=["2026-11-26T08:30:00Z"])


class CounterOfferAnswered(CaseEvent):
    """The buyer accepted or rejected a counter-offer. Rejected: the merchant answers again by ``respond_by``."""

    TYPE: ClassVar[str] = "disputes.counter_offer.answered"

    round: int = Field(description="The round of the counter-offer.", examples=[1])
    accepted: bool = Field(description="Accepted.", examples=[False])
    amount: Money = Field(description="The counter-offer.")
    respond_by: datetime | None = Field(default=None, description="Rejected: the merchant's next deadline (UTC).")
    note: str | None = Field(default=None, description="The buyer's note.")


class NegotiationAgreed(CaseEvent):
    """Buyer and merchant agreed on a refund."""

    TYPE: ClassVar[str] = "disputes.negotiation.agreed"

    amount: Money = Field(description="The agreed refund.")
    how: str = Field(description="`merchant_accepted`, `counter_offer_accepted`, `merchant_silent` (the merchant's "
                                 "deadline passed, which accepts the request), `buyer_silent` (the buyer's deadline to "
                                 "answer a counter-offer passed, which accepts the counter-offer) or "
                                 "`cancelled_before_shipment` (a cancellation the merchant's balance could not refund).",
                     examples=["merchant_accepted"])
    rounds: int = Field(description="Rounds it took.", examples=[1])


class NegotiationFailed(CaseEvent):
    """The merchant rejected the request; the buyer may escalate to the platform until ``escalate_by``."""

    TYPE: ClassVar[str] = "disputes.negotiation.failed"

    rounds: int = Field(description="Rounds it took.", examples=[1])
    escalate_by: datetime = Field(description="Escalation window's end; the case closes after it (UTC).")


class RuleProposal(Payload):
    """What the published arbitration rule table proposes for a case; the arbitrator decides."""

    rule: str = Field(description="Rule id from the published table.", examples=["R1-not-delivered"])
    decision: RulingDecision = Field(description="Proposed decision.", examples=["full_refund"])
    amount: Money = Field(description="Proposed refund (zero for reject).")
    return_required: bool = Field(description="Whether the goods go back first.", examples=[False])
    text: str = Field(description="The rule, zh-CN / en.", examples=["物流未妥投，全额退款 / not delivered: full refund"])


class CaseEscalated(CaseEvent):
    """The platform stepped in; an arbitrator will rule by ``rule_by``. ``proposal`` is the rule table's suggestion, if
    any rule applies."""

    TYPE: ClassVar[str] = "disputes.case.escalated"

    proposal: RuleProposal | None = Field(default=None, description="The rule table's proposal.")
    rule_by: datetime | None = Field(default=None, description="The arbitration deadline (UTC); when it passes the case "
                                     "goes to the supervisors' queue (`disputes.case.arbitration_overdue`).",
                                     examples=["2026-12-01T10:00:00Z"])


class ArbitrationOverdue(CaseEvent):
    """No ruling by the arbitration deadline: the case is in the supervisors' queue. If no arbitrator rules by
    ``default_ruling_at``, the rule table's default ruling (``default_ruling``) applies, made by the system."""

    TYPE: ClassVar[str] = "disputes.case.arbitration_overdue"

    rule_by: datetime = Field(description="The arbitration deadline that passed (UTC).", examples=["2026-12-01T10:00:00Z"])
    default_ruling_at: datetime = Field(description="When the default ruling applies (UTC).",
                                        examples=["2026-12-03T10:00:00Z"])
    default_ruling: RuleProposal = Field(description="The ruling that then applies: the rule table's proposal, or "
                                                     "`R0-unproven` (a rejection) when no rule applies.")


class CaseRuled(CaseEvent):
    """An arbitrator ruled."""

    TYPE: ClassVar[str] = "disputes.case.ruled"

    arbitrator_id: str = Field(description="Who ruled.", examples=["ARB-7"])
    decision: RulingDecision = Field(description="The decision.", examples=["full_refund"])
    amount: Money = Field(description="The refund ruled (zero for reject).")
    reasons: str = Field(description="The reasons.", examples=["物流显示未妥投 / tracking shows not delivered"])
    return_required: bool = Field(description="Goods go back first: `disputes.return.requested` follows, and the refund "
                                              "is ordered when they are back.", examples=[False])
    followed_rule: str | None = Field(default=None, description="The proposed rule, when the ruling matches it.",
                                      examples=["R1-not-delivered"])
    by_default: bool = Field(default=False, description="Made by the system: the arbitration deadline and the "
                                                        "supervisors' time passed, so the rule table's default ruling "
                                                        "applied (`arbitrator_id` is `system`).", examples=[False])


class ReturnRequested(CaseEvent):
    """The ruling refunds on return: the buyer sends the goods back and gives the waybill
    (``disputes.return.record_shipment``) by ``return_by``; the hold stays frozen. If nothing is sent by then, the
    case closes (``return_not_shipped``) and nothing is refunded."""

    TYPE: ClassVar[str] = "disputes.return.requested"

    amount: Money = Field(description="The refund ordered once the goods are back.")
    return_by: datetime = Field(description="The buyer's deadline to send the goods back (UTC).",
                                examples=["2026-12-06T10:00:00Z"])


class ReturnShipped(CaseEvent):
    """The buyer sent the goods back; the merchant confirms their arrival by ``confirm_by``, after which they count as
    received."""

    TYPE: ClassVar[str] = "disputes.return.shipped"

    carrier: str = Field(description="Carrier.", examples=["SF Express 顺丰"])
    tracking_no: str = Field(description="The return's waybill number.", examples=["SF2026112900017"])
    confirm_by: datetime = Field(description="The merchant's deadline to confirm the goods arrived (UTC).",
                                 examples=["2026-12-09T10:00:00Z"])


class ReturnReceived(CaseEvent):
    """The returned goods count as back with the merchant: the refund is ordered now."""

    TYPE: ClassVar[str] = "disputes.return.received"

    how: str = Field(description="`merchant_confirmed`, or `deadline_passed` (the merchant did not confirm in time).",
                     examples=["merchant_confirmed"])
    amount: Money = Field(description="The refund ordered.")


class RefundOrdered(CaseEvent):
    """An agreed or ruled refund goes to escrow to execute: from the hold, else from the merchant's balance, and
    what neither covers is reported back as a shortfall."""

    TYPE: ClassVar[str] = "disputes.refund.ordered"

    refund_id: str = Field(description="Id of this refund order, unique per case and round.", examples=["CR-C-20261123-0001-1"])
    amount: Money = Field(description="Refund to execute.")
    basis: str = Field(description="`agreed` or `ruled`.", examples=["agreed"])


class CompensationGranted(CaseEvent):
    """Priority compensation: the platform pays the buyer at once from the insurer-backed pool, files a claim with
    the insurer and books what the merchant owes (recovered from its later income first)."""

    TYPE: ClassVar[str] = "disputes.compensation.granted"

    compensation_id: str = Field(description="Compensation id.", examples=["CP-C-20261123-0001-1"])
    refund_id: str = Field(description="The refund order whose shortfall it covers.", examples=["CR-C-20261123-0001-1"])
    amount: Money = Field(description="Paid to the buyer from the pool.")
    shortfall: int = Field(description="What the refund order lacked, in fen.", examples=[12900])
    uncovered: int = Field(description="Shortfall beyond the published caps, in fen (not paid).", examples=[0])
    claim_id: str = Field(description="The claim filed with the insurer.", examples=["CL-C-20261123-0001-1"])


class ClaimDecisionRecorded(CaseEvent):
    """The insurer decided a claim."""

    TYPE: ClassVar[str] = "disputes.claim.decided"

    claim_id: str = Field(description="The claim.", examples=["CL-C-20261123-0001-1"])
    decision: str = Field(description="approved, partial or denied.", examples=["approved"])
    claimed: Money = Field(description="Claimed.")
    approved: Money = Field(description="Approved.")
    reason: str | None = Field(default=None, description="The insurer's reason.")


class ClaimPaymentRecorded(CaseEvent):
    """The insurer paid an approved claim."""

    TYPE: ClassVar[str] = "disputes.claim.paid"

    claim_id: str = Field(description="The claim.", examples=["CL-C-20261123-0001-1"])
    amount: Money = Field(description="Paid by the insurer.")


class VerificationStarted(CaseEvent):
    """The three-day verification of an agreed or ruled outcome started: day 1 the ledger is checked, day 2 the buyer
    is asked for feedback, day 3 the outcome is final."""

    TYPE: ClassVar[str] = "disputes.verification.started"

    outcome: Money = Field(description="The refund agreed or ruled (zero for a rejected claim).")
    basis: str = Field(description="`agreed` or `ruled`.", examples=["agreed"])
    day1_at: datetime = Field(description="Ledger check (UTC).")
    day2_at: datetime = Field(description="Buyer feedback asked (UTC).")
    day3_at: datetime = Field(description="Outcome final (UTC).")


class RefundVerified(CaseEvent):
    """Day 1: the ledger checked against the outcome. ``verified`` is false when the buyer has not received it all."""

    TYPE: ClassVar[str] = "disputes.verification.refund_checked"

    expected: Money = Field(description="Refunds the case's outcomes call for.")
    booked: Money = Field(description="Refunds and compensation escrow booked for the case.")
    verified: bool = Field(description="booked == expected.", examples=[True])


class FeedbackRequested(CaseEvent):
    """Day 2: the buyer is asked whether the outcome is satisfactory (``disputes.feedback.submit``)."""

    TYPE: ClassVar[str] = "disputes.verification.feedback_requested"

    answer_by: datetime = Field(description="Day 3, when the outcome becomes final (UTC).")


class FeedbackReceived(CaseEvent):
    """The buyer's feedback on the outcome."""

    TYPE: ClassVar[str] = "disputes.feedback.received"

    satisfied: bool = Field(description="Satisfied.", examples=[True])
    comment: str | None = Field(default=None, description="The buyer's comment.")


class CaseReopened(CaseEvent):
    """An unsatisfied buyer reopened negotiation for a further refund; the merchant answers by ``respond_by``."""

    TYPE: ClassVar[str] = "disputes.case.reopened"

    round: int = Field(description="The new round.", examples=[2])
    requested: Money = Field(description="Further refund asked for.")
    respond_by: datetime = Field(description="The merchant's deadline (UTC).")


class CaseClosed(CaseEvent):
    """The case is over; the hold (if any remains) is unfrozen and its auto-confirm countdown resumes."""

    TYPE: ClassVar[str] = "disputes.case.closed"

    outcome: str = Field(description="`resolved` (verified), `unverified` (the ledger check failed: an operator follows "
                                     "up), `withdrawn`, `not_escalated`, or `return_not_shipped` (a ruling wanted the "
                                     "goods back first and the buyer sent nothing in time).", examples=["resolved"])
    refunded: Money = Field(description="Refunded to the buyer for this case, compensation included.")
    compensated: int = Field(description="Of which priority compensation, in fen.", examples=[0])
    satisfied: bool | None = Field(default=None, description="The buyer's feedback, if given.")
