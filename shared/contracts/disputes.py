"""Contracts of the disputes service: refund requests (cases), negotiation, arbitration, priority
compensation, insurer claims and the three-day verification.

Commands and events about a case are keyed by its **order id**, so everything about one order
stays in order on one partition. Every event names the case, the order, the buyer and the merchant.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, model_validator

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import ID_PATTERN, BuyerRef, MerchantRef, OrderRef, rejection_payload
from shared.envelope import ActorKind, Payload
from shared.money import Money

CASE_ID = Field(pattern=ID_PATTERN, description="Case id, chosen by the buyer's app (unique on the platform).",
                examples=["C-20261123-0001"])
NOTE = Field(default=None, max_length=1000, description="Free text for the other party and the platform.",
             examples=["商品有划痕 / the screen is scratched"])


class CaseReason(StrEnum):
    """Why the buyer asks for a refund."""

    NOT_RECEIVED = "not_received"
    NOT_AS_DESCRIBED = "not_as_described"
    DAMAGED = "damaged"
    PRICE_DIFFERENCE = "price_difference"
    OTHER = "other"


class Evidence(Payload):
    """A piece of evidence: where it is kept, its SHA-256, and what it shows. The file itself stays with the app."""

    reference: str = Field(min_length=1, max_length=300, description="Where the file is kept (object key or URL).",
                           examples=["evidence/C-20261123-0001/photo-1.jpg"])
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lower-case hex.",
                        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    description: str = Field(min_length=1, max_length=500, description="What it shows.",
                             examples=["快递单显示未签收 / tracking shows not delivered"])


class MerchantResponse(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    COUNTER_OFFER = "counter_offer"


class RulingDecision(StrEnum):
    FULL_REFUND = "full_refund"
    PARTIAL_REFUND = "partial_refund"
    REJECT = "reject"


class CaseStatus(StrEnum):
    """A case's state, as events report it."""

    AWAITING_MERCHANT = "awaiting_merchant"
    AWAITING_BUYER = "awaiting_buyer"
    NEGOTIATION_FAILED = "negotiation_failed"
    IN_ARBITRATION = "in_arbitration"
    AWAITING_RETURN = "awaiting_return"
    RETURN_IN_TRANSIT = "return_in_transit"
    VERIFYING = "verifying"
    CLOSED = "closed"


# -- commands --------------------------------------------------------------------------------


class OpenCase(Payload):
    """The buyer asks for a refund on a paid order: this opens a case and freezes the hold (a payment without the
    guarantee, already with the merchant, is refunded from the merchant's balance, then by priority compensation)."""

    TYPE: ClassVar[str] = "disputes.case.open"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    case_id: str = CASE_ID
    order_id: str = Field(pattern=ID_PATTERN, description="The order concerned.", examples=["O-20261123-0001"])
    reason: CaseReason = Field(description="Why.", examples=["price_difference"])
    requested: Money = Field(description="Refund asked for: the whole order or part of it.")
    description: str = Field(min_length=1, max_length=2000, description="The buyer's account of the problem.",
                             examples=["到手价比页面标价高了38元 / charged 38 yuan more than the listed price"])
    evidence: list[Evidence] = Field(default_factory=list, max_length=20, description="Evidence, up to 20 items.")

    @model_validator(mode="after")
    def _positive(self) -> OpenCase:
        if self.requested.amount == 0:
            raise ValueError("the requested refund must be positive")
        return self


class AddEvidence(Payload):
    """The buyer or the merchant adds evidence to an open case."""

    TYPE: ClassVar[str] = "disputes.evidence.add"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER, ActorKind.MERCHANT,)

    case_id: str = CASE_ID
    evidence: list[Evidence] = Field(min_length=1, max_length=20, description="Evidence to add.")


class RespondToCase(Payload):
    """The merchant answers the buyer's request: accept it, reject it, or offer another amount."""

    TYPE: ClassVar[str] = "disputes.case.respond"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    case_id: str = CASE_ID
    response: MerchantResponse = Field(description="accept, reject or counter_offer.", examples=["counter_offer"])
    amount: Money | None = Field(default=None, description="The amount offered (counter_offer only).")
    note: str | None = NOTE

    @model_validator(mode="after")
    def _amount_with_counter_offer(self) -> RespondToCase:
        if (self.response is MerchantResponse.COUNTER_OFFER) != (self.amount is not None):
            raise ValueError("an amount is given with a counter_offer, and only then")
        if self.amount is not None and self.amount.amount == 0:
            raise ValueError("a counter-offer must be positive")
        return self


class AnswerCounterOffer(Payload):
    """The buyer accepts the merchant's counter-offer, or rejects it (the request stands; the merchant answers again).
    Silence until ``answer_by`` accepts the counter-offer; the three-day verification then asks the buyer, who may
    reopen the case for more."""

    TYPE: ClassVar[str] = "disputes.counter_offer.answer"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    case_id: str = CASE_ID
    accept: bool = Field(description="Accept the counter-offer.", examples=[True])
    note: str | None = NOTE


class EscalateCase(Payload):
    """After the merchant rejected the request, the buyer asks the platform to arbitrate."""

    TYPE: ClassVar[str] = "disputes.case.escalate"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    case_id: str = CASE_ID
    note: str | None = NOTE


class RuleOnCase(Payload):
    """An arbitrator decides an escalated case (also once it is overdue, until the default ruling applies)."""

    TYPE: ClassVar[str] = "disputes.case.rule"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.ARBITRATOR,)

    case_id: str = CASE_ID
    decision: RulingDecision = Field(description="full_refund, partial_refund or reject.", examples=["full_refund"])
    amount: Money | None = Field(default=None, description="The refund (partial_refund only).")
    reasons: str = Field(min_length=1, max_length=2000, description="The ruling's reasons, shown to both parties.",
                         examples=["物流显示未妥投，全额退款 / tracking shows not delivered: full refund"])
    return_required: bool = Field(default=False, description="The buyer must send the goods back first: the refund is "
                                  "ordered once the merchant confirms they arrived (or its deadline passes). Only with "
                                  "a refund.", examples=[False])

    @model_validator(mode="after")
    def _amount_with_partial(self) -> RuleOnCase:
        if (self.decision is RulingDecision.PARTIAL_REFUND) != (self.amount is not None):
            raise ValueError("an amount is given with a partial_refund, and only then")
        if self.amount is not None and self.amount.amount == 0:
            raise ValueError("a partial refund must be positive")
        return self


class WithdrawCase(Payload):
    """The buyer withdraws an open case (not once the returned goods are on their way, nor during verification);
    the hold is unfrozen."""

    TYPE: ClassVar[str] = "disputes.case.withdraw"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    case_id: str = CASE_ID
    note: str | None = NOTE


class RecordReturnShipment(Payload):
    """A ruling wants the goods back before the refund: the buyer sent them and gives the return's waybill. The
    merchant then confirms they arrived (``disputes.return.confirm_receipt``), or its deadline passes and they count
    as received; either way the refund is ordered."""

    TYPE: ClassVar[str] = "disputes.return.record_shipment"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    case_id: str = CASE_ID
    carrier: str = Field(min_length=1, max_length=64, description="Carrier name or code.", examples=["SF Express 顺丰"])
    tracking_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="The return's waybill number.",
                             examples=["SF2026112900017"])
    note: str | None = NOTE


class ConfirmReturnReceipt(Payload):
    """The merchant confirms the returned goods arrived; the refund the ruling called for is ordered at once."""

    TYPE: ClassVar[str] = "disputes.return.confirm_receipt"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    case_id: str = CASE_ID
    note: str | None = NOTE


class SubmitFeedback(Payload):
    """During the three-day verification the buyer says whether the outcome is satisfactory. An unsatisfied buyer
    names the further refund wanted, which reopens negotiation with the merchant."""

    TYPE: ClassVar[str] = "disputes.feedback.submit"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER,)

    case_id: str = CASE_ID
    satisfied: bool = Field(description="Satisfied with the outcome.", examples=[True])
    requested: Money | None = Field(default=None, description="Further refund wanted (unsatisfied only).")
    comment: str | None = NOTE

    @model_validator(mode="after")
    def _request_when_unsatisfied(self) -> SubmitFeedback:
        if self.satisfied and self.requested is not None:
            raise ValueError("a satisfied buyer asks for nothing more")
        if not self.satisfied and (self.requested is None or self.requested.amount == 0):
            raise ValueError("an unsatisfied buyer names the further refund wanted")
        return self


# -- events ----------------------------------------------------------------------------------


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
