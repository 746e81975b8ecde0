"""Contracts of the onboarding service: applications, automatic checks, review, activation.

Personal data never travels in plaintext: commands carry it sealed to onboarding's public key
(``shared.sealing``), events carry it masked."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import ID_PATTERN, MerchantRef, rejection_payload, sealed
from shared.envelope import ActorKind, Payload
from shared.contracts.settlement import SettlementAccountKind
from shared.pii import FieldCipher, mask_email, mask_phone

__all__ = ["SettlementAccountKind"]  # re-exported: the kind belongs to the application

MERCHANT_ID = Field(pattern=ID_PATTERN, description="The merchant account (from sign-up); also the key.", examples=["M-1001"])


class MerchantType(StrEnum):
    ENTERPRISE = "enterprise"
    INDIVIDUAL_BUSINESS = "individual_business"


class DocumentKind(StrEnum):
    BUSINESS_LICENCE = "business_licence"
    ID_FRONT = "id_front"
    ID_BACK = "id_back"


class DocumentRef(Payload):
    """An uploaded image, by reference and content hash (the file itself stays in document storage)."""

    kind: DocumentKind = Field(description="What it shows.", examples=["business_licence"])
    uri: str = Field(min_length=1, max_length=500, description="Where document storage keeps it.", examples=["docs://M-1001/licence.jpg"])
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, hex.", examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])


class ApplyForMerchant(Payload):
    """A registered account applies to become a merchant (seed 02: 提交资料). The five personal fields
    travel sealed to onboarding's public key; everything else is plain."""

    TYPE: ClassVar[str] = "onboarding.application.submit"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    merchant_id: str = MERCHANT_ID
    merchant_type: MerchantType = Field(description="Enterprise or individual business.", examples=["enterprise"])
    legal_name: str = Field(min_length=2, max_length=100, description="Registered name.", examples=["杭州小盾牌贸易有限公司"])
    credit_code: str = Field(max_length=18, description="Unified social credit code (GB 32100-2015).", examples=["91350100M000100Y43"])
    legal_rep_name: str = sealed("Legal representative's name (2-50 characters), e.g. `张三`.")
    legal_rep_id_number: str = sealed("Legal representative's resident ID number (GB 11643-1999), e.g. `11010519491231002X`.")
    settlement_account: str = sealed("Settlement account number: a personal bank card (12-19 digits, Luhn) or a "
                                     "corporate account (对公账户, 9-25 digits), as `settlement_account_kind` says; "
                                     "e.g. `6222021234567890128`.")
    settlement_account_kind: SettlementAccountKind | None = Field(
        default=None, description="`personal_card` (个人银行卡, checked by Luhn) or `corporate` (对公账户, checked by format "
                                  "only: banks number them by their own rules). Default: `corporate` for an enterprise, "
                                  "`personal_card` for an individual business.", examples=["corporate"])
    phone: str = sealed("Mainland mobile number, e.g. `13812345678`.")
    email: str = sealed("Where the activation code is sent, e.g. `finance@example.com`.")
    industry: str = Field(max_length=32, description="Industry; selects the fee tier (see the fee schedule).", examples=["retail"])
    documents: list[DocumentRef] = Field(min_length=1, max_length=10, description="Licence and ID images.")


class ReviewDecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_DOCUMENTS = "request_documents"


class DecideReview(Payload):
    """A reviewer decides an application the automatic checks could not."""

    TYPE: ClassVar[str] = "onboarding.review.decide"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.REVIEWER,)

    merchant_id: str = MERCHANT_ID
    decision: ReviewDecisionKind = Field(description="Approve, reject, or ask for more documents.", examples=["approve"])
    reasons: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=10, description="Why (required to reject or to ask for documents).", examples=[["licence photo unreadable"]])


class SubmitDocuments(Payload):
    """The merchant sends the documents a reviewer asked for; the review resumes."""

    TYPE: ClassVar[str] = "onboarding.documents.submit"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    merchant_id: str = MERCHANT_ID
    documents: list[DocumentRef] = Field(min_length=1, max_length=10, description="The new images.")


class ActivateMerchant(Payload):
    """The merchant enters the activation code it received by e-mail (seed 02: 账户激活)."""

    TYPE: ClassVar[str] = "onboarding.merchant.activate"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT,)

    merchant_id: str = MERCHANT_ID
    activation_code: str = Field(pattern=r"^\d{6}$", description="The six-digit code from the e-mail.", examples=["402913"])


class ReissueActivationCode(Payload):
    """A fresh activation code for an approved merchant whose code expired or was lost: the merchant asks, or an
    operator does for it. The old code stops working; the new one is e-mailed like the first."""

    TYPE: ClassVar[str] = "onboarding.activation.reissue"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT, ActorKind.OPERATOR)

    merchant_id: str = MERCHANT_ID


class SuspendMerchant(Payload):
    """An operator suspends a merchant: payments stops accepting its orders."""

    TYPE: ClassVar[str] = "onboarding.merchant.suspend"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.OPERATOR,)

    merchant_id: str = MERCHANT_ID
    reason: str = Field(min_length=1, max_length=200, description="Why.", examples=["complaints under investigation"])


class ReinstateMerchant(Payload):
    """An operator lifts a suspension."""

    TYPE: ClassVar[str] = "onboarding.merchant.reinstate"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.OPERATOR,)

    merchant_id: str = MERCHANT_ID
    reason: str = Field(min_length=1, max_length=200, description="Why.", examples=["investigation closed"])


class CheckResult(Payload):
    """One automatic check."""

    name: str = Field(description="`formats`, `duplicate`, `registry`, `risk`.", examples=["registry"])
    passed: bool = Field(description="Whether it passed.", examples=[True])
    reason: str = Field(description="What it found.", examples=["registered and active"])


class ApplicationReceived(Payload):
    """An application arrived; personal data shown masked."""

    TYPE: ClassVar[str] = "onboarding.application.received"

    merchant_id: MerchantRef
    merchant_type: MerchantType = Field(description="Type.", examples=["enterprise"])
    legal_name: str = Field(description="Registered name.", examples=["杭州小盾牌贸易有限公司"])
    credit_code: str = Field(description="Credit code (public).", examples=["91350100M000100Y43"])
    phone_masked: str = Field(description="Phone, masked.", examples=["138****5678"])
    email_masked: str = Field(description="E-mail, masked.", examples=["f***@example.com"])
    id_number_masked: str = Field(description="ID number, masked.", examples=["110***********002X"])
    settlement_account_masked: str = Field(description="Settlement account, masked.", examples=["6222 **** **** 0128"])
    settlement_account_kind: SettlementAccountKind | None = Field(
        default=None, description="`personal_card` or `corporate` (absent in events from before it was added).",
        examples=["corporate"])
    industry: str = Field(description="Industry.", examples=["retail"])


class MerchantContactProvided(Payload):
    """The applicant's phone and e-mail, for the notifications service: masked, and sealed
    (AES-256-GCM) with the contact-seal keys onboarding shares with notifications only."""

    TYPE: ClassVar[str] = "onboarding.merchant.contact_provided"

    merchant_id: MerchantRef
    phone_masked: str = Field(description="Phone, masked.", examples=["138****5678"])
    email_masked: str = Field(description="E-mail, masked.", examples=["f***@example.com"])
    sealed_contact: str = Field(description="`{phone, email}` as JSON, encrypted with the shared contact-seal key (key id inside).", examples=["v1:k1:q83vEjRWeJA..."])

    @staticmethod
    def context(merchant_id: str) -> str:
        return f"contact:merchant:{merchant_id}"

    @classmethod
    def seal(cls, merchant_id: str, phone: str, email: str, cipher: FieldCipher) -> MerchantContactProvided:
        sealed = cipher.encrypt(json.dumps({"phone": phone, "email": email}), cls.context(merchant_id))
        return cls(merchant_id=merchant_id, phone_masked=mask_phone(phone), email_masked=mask_email(email), sealed_contact=sealed)

    def unseal(self, cipher: FieldCipher) -> tuple[str, str]:
        """(phone, email); raises ``shared.pii.UnreadableValue`` without the right key."""
        contact = json.loads(cipher.decrypt(self.sealed_contact, self.context(self.merchant_id)))
        return contact["phone"], contact["email"]


class ChecksCompleted(Payload):
    """The automatic checks finished; `outcome` says what happens next."""

    TYPE: ClassVar[str] = "onboarding.checks.completed"

    merchant_id: MerchantRef
    checks: list[CheckResult] = Field(description="Each check with its result.")
    risk_score: int = Field(description="0 (none) to 100, from the documented rules.", examples=[10])
    outcome: str = Field(description="`approved`, `manual_review` or `rejected`.", examples=["approved"])


class ReviewRequired(Payload):
    """A reviewer must decide (SLA: 1-3 business days)."""

    TYPE: ClassVar[str] = "onboarding.review.required"

    merchant_id: MerchantRef
    reasons: list[str] = Field(description="What the checks could not settle.", examples=[["registered name differs"]])
    due_at: datetime = Field(description="The review's SLA deadline: end of the 3rd business day (UTC).", examples=["2026-11-26T10:00:00Z"])


class ReviewEscalated(Payload):
    """A review missed its SLA (3 business days on the Chinese calendar): a lead must step in."""

    TYPE: ClassVar[str] = "onboarding.review.escalated"

    merchant_id: MerchantRef
    due_at: datetime = Field(description="When the review was due (UTC).", examples=["2026-11-26T10:00:00Z"])
    business_days: int = Field(description="The SLA in business days.", examples=[3])


class DocumentsRequested(Payload):
    """A reviewer needs more documents before deciding."""

    TYPE: ClassVar[str] = "onboarding.documents.requested"

    merchant_id: MerchantRef
    reasons: list[str] = Field(description="What is missing or unreadable.", examples=[["licence photo unreadable"]])
    by: str = Field(default="automatic", description="Who decided: `automatic`, or the reviewer's or operator's id.",
                    examples=["RV-1"])


class ApplicationApproved(Payload):
    """Approved: an activation code is on its way by e-mail."""

    TYPE: ClassVar[str] = "onboarding.application.approved"

    merchant_id: MerchantRef
    verified: bool = Field(description="The registry confirmed the company: the verified badge once active.", examples=[True])
    by: str = Field(description="`automatic` or the reviewer's id.", examples=["automatic"])


class ActivationCodeIssued(Payload):
    """For the notification service to e-mail: the code activates this merchant only, once, before
    `expires_at`. It travels sealed (AES-256-GCM, the contact-seal keys onboarding shares with
    notifications only): whoever reads the topic cannot activate the merchant."""

    TYPE: ClassVar[str] = "onboarding.activation.code_issued"

    merchant_id: MerchantRef
    sealed_code: str = Field(description="The six-digit code, encrypted with the shared contact-seal key (key id inside).",
                             examples=["v1:k1:Zm9vYmFy..."])
    email_masked: str = Field(description="Where it goes, masked (notifications keeps the address).", examples=["f***@example.com"])
    expires_at: datetime = Field(description="UTC.", examples=["2026-11-30T08:30:00Z"])

    @staticmethod
    def context(merchant_id: str) -> str:
        return f"activation-code:{merchant_id}"

    @classmethod
    def seal(cls, merchant_id: str, code: str, cipher: FieldCipher) -> str:
        return cipher.encrypt(code, cls.context(merchant_id))

    def unseal(self, cipher: FieldCipher) -> str:
        """The code; raises ``shared.pii.UnreadableValue`` without the right key."""
        return cipher.decrypt(self.sealed_code, self.context(self.merchant_id))


class ApplicationRejected(Payload):
    """Rejected; the merchant may apply again."""

    TYPE: ClassVar[str] = "onboarding.application.rejected"

    merchant_id: MerchantRef
    reasons: list[str] = Field(description="Why.", examples=[["company registration revoked"]])
    by: str = Field(default="automatic", description="Who decided: `automatic`, or the reviewer's or operator's id.",
                    examples=["RV-1"])


class MerchantActivated(Payload):
    """The merchant may take payments; `verified` is the badge (registry check passed). It also announces the
    settlement account verified at onboarding, the only account payouts go to: an opaque reference, the number
    masked, its kind, and the number sealed for the bank. The four settlement fields are absent in events from
    before they were added; payments then refuses that merchant's payouts (`no_verified_account`)."""

    TYPE: ClassVar[str] = "onboarding.merchant.activated"

    merchant_id: MerchantRef
    industry: str = Field(description="Industry (fee tier).", examples=["retail"])
    verified: bool = Field(description="The verified badge.", examples=[True])
    settlement_account_ref: str | None = Field(
        default=None, description="Opaque reference of the verified settlement account (never the number); "
                                  "`bank.transfer.requested` carries it as `account_ref`.", examples=["SA-5f0c3e9a1b7d2c44"])
    settlement_account_masked: str | None = Field(default=None, description="The account number, masked.",
                                                  examples=["6222 **** **** 0128"])
    settlement_account_kind: SettlementAccountKind | None = Field(
        default=None, description="`personal_card` or `corporate`.", examples=["corporate"])
    sealed_settlement_account: str | None = Field(
        default=None, description="The account number, encrypted (AES-256-GCM, key id inside) with the bank-account seal "
                                  "keys onboarding shares with the bank adapter only, bound to the merchant and "
                                  "`settlement_account_ref`. Payments passes it on unread.", examples=["v1:k1:Q2lwaGVy..."])


class MerchantSuspended(Payload):
    """Payments refuses new orders for this merchant."""

    TYPE: ClassVar[str] = "onboarding.merchant.suspended"

    merchant_id: MerchantRef
    reason: str = Field(description="Why.", examples=["complaints under investigation"])
    by: str = Field(default="automatic", description="Who decided: `automatic`, or the reviewer's or operator's id.",
                    examples=["RV-1"])


class MerchantReinstated(Payload):
    """The suspension is lifted."""

    TYPE: ClassVar[str] = "onboarding.merchant.reinstated"

    merchant_id: MerchantRef
    reason: str = Field(description="Why.", examples=["investigation closed"])
    by: str = Field(default="automatic", description="Who decided: `automatic`, or the reviewer's or operator's id.",
                    examples=["RV-1"])


OnboardingCommandRejected = rejection_payload("onboarding")

COMMANDS = TopicContract(
    topics.commands("onboarding"), "Applications from merchants, review decisions, activation, suspension.",
    [ApplyForMerchant, DecideReview, SubmitDocuments, ActivateMerchant, ReissueActivationCode, SuspendMerchant, ReinstateMerchant],
)
EVENTS = TopicContract(
    topics.events("onboarding"), "Applications, checks, review, activation and merchant status.",
    [ApplicationReceived, MerchantContactProvided, ChecksCompleted, ReviewRequired, ReviewEscalated, DocumentsRequested, ApplicationApproved, ActivationCodeIssued,
     ApplicationRejected, MerchantActivated, MerchantSuspended, MerchantReinstated, OnboardingCommandRejected],
)
