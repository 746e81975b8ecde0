"""Commands of the disputes service, with the codes and evidence they carry (see ``disputes``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field, model_validator

from shared.contracts.common import ID_PATTERN
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
