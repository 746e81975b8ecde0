"""The fuzz's catalogue: for every topic a service takes orders from (its command topic, the control topic, the
outside systems' signed callbacks), a well-formed example of each message and what makes it the service's to act
on. tests/fuzzing.py spoils them in every way it knows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


from services.disputes.config import DisputesSettings
from services.onboarding.config import OnboardingSettings
from services.payments.config import PaymentsSettings
from shared.contracts import bank, control, disputes, escrow, insurer, notifications, onboarding, payments, psp, registry
from shared.contracts.catalog import TopicContract
from shared.contracts.common import SignedCallback
from tests import factories as f

DEAD, REJECTED, NOTHING, REPEATED = "dead_letter", "rejected", "nothing", "repeated"
BUYER, MERCHANT = "B-2001", "M-1001"
HUGE = 100_000  # characters of a huge field: far over every bound a command field has
MEGABYTE = 1_000_000  # the largest round message size a producer sends (max_request_size is 1 MiB with the record around it)


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Bad:
    """A message that must change nothing, and what the service must answer."""

    topic: str
    value: bytes
    outcome: str
    reasons: frozenset[str] = frozenset()
    key: bytes | None = None
    event_id: str | None = None
    what: str = ""

    def __repr__(self) -> str:
        return f"Bad({self.what}, {self.topic}, {self.outcome} {sorted(self.reasons)}, {len(self.value)} bytes: {self.value[:300]!r})"


@dataclass(frozen=True)
class Command:
    """A well-formed message about the seeded state, and who may send it: (kind, id), None for any id."""

    template: dict[str, Any]
    allowed: tuple[tuple[str, str | None], ...] = ()
    missing: tuple[str, str] | None = None  # data field naming the aggregate, and the reason when it does not exist

    @property
    def document(self) -> dict[str, Any]:
        """The message, a command with a token made now (tokens live minutes; these are built at import)."""
        return f.sign(self.template) if "token" in self.template else self.template


@dataclass(frozen=True)
class Topic:
    contract: TopicContract
    commands: tuple[Command, ...]
    ignores_unknown_types: bool = False  # a shared topic (psp callbacks): another consumer's types are skipped


def _mine(document: dict[str, Any], *others: tuple[str, str | None], missing: tuple[str, str] | None = None) -> Command:
    kind, actor_id = document["actor"]["kind"], document["actor"]["id"]
    return Command(document, ((kind, actor_id), *others), missing)


EVIDENCE = [{"reference": "evidence/C-FZ-1/photo.jpg", "sha256": "ab" * 32, "description": "照片 / photo"}]
ANY_OPERATOR: tuple[str, None] = ("operator", None)


def open_case(case_id: str, order_id: str, **extra: Any) -> dict[str, Any]:
    return f.envelope("disputes.case.open", {
        "case_id": case_id, "order_id": order_id, "reason": "not_received", "requested": {"amount": 100, "currency": "CNY"},
        "description": "没收到 / not received", **extra}, actor=("buyer", BUYER))


def _case(type_: str, actor: tuple[str, str], **data: Any) -> dict[str, Any]:
    return f.envelope(type_, {"case_id": "C-FZ-1", **data}, actor=actor)


def _merchant(type_: str, actor: tuple[str, str], **data: Any) -> dict[str, Any]:
    return f.envelope(type_, {"merchant_id": "M-FZ-1", **data}, actor=actor)


CASE_MISSING = ("case_id", "case_not_found")
COMMANDS: dict[str, Topic] = {
    "payments": Topic(payments.COMMANDS, (
        _mine(f.create_order("O-FZ-NEW"), missing=("merchant_id", "merchant_not_active")),
        _mine(f.pay_order("O-FZ-OPEN"), missing=("order_id", "order_not_found")),
        _mine(f.cancel_order("O-FZ-OPEN", "changed_mind", actor=("buyer", BUYER)), ("merchant", MERCHANT),
              missing=("order_id", "order_not_found")),
        _mine(f.request_payout("PO-FZ-2", 100)),
    )),
    "escrow": Topic(escrow.COMMANDS, (
        _mine(f.record_shipment("O-FZ-HELD"), missing=("order_id", "hold_not_found")),
        _mine(f.confirm_receipt("O-FZ-SHIPPED"), missing=("order_id", "hold_not_found")),
    )),
    "disputes": Topic(disputes.COMMANDS, (
        _mine(open_case("C-FZ-NEW", "O-FZ-FREE", evidence=EVIDENCE), missing=("order_id", "order_not_found")),
        _mine(_case("disputes.evidence.add", ("buyer", BUYER), evidence=EVIDENCE), ("merchant", MERCHANT), missing=CASE_MISSING),
        _mine(_case("disputes.case.respond", ("merchant", MERCHANT), response="counter_offer",
                    amount={"amount": 50, "currency": "CNY"}, note="半价 / half"), missing=CASE_MISSING),
        _mine(_case("disputes.counter_offer.answer", ("buyer", BUYER), accept=True), missing=CASE_MISSING),
        _mine(_case("disputes.case.escalate", ("buyer", BUYER), note="请仲裁"), missing=CASE_MISSING),
        _mine(_case("disputes.case.rule", ("arbitrator", "ARB-1"), decision="full_refund", reasons="未妥投 / not delivered"),
              ("arbitrator", None), missing=CASE_MISSING),
        _mine(_case("disputes.return.record_shipment", ("buyer", BUYER), carrier="SF Express 顺丰", tracking_no="SF2026"),
              missing=CASE_MISSING),
        _mine(_case("disputes.return.confirm_receipt", ("merchant", MERCHANT), note="已收到 / received"), missing=CASE_MISSING),
        _mine(_case("disputes.case.withdraw", ("buyer", BUYER)), missing=CASE_MISSING),
        _mine(_case("disputes.feedback.submit", ("buyer", BUYER), satisfied=True), missing=CASE_MISSING),
    )),
    "onboarding": Topic(onboarding.COMMANDS, (
        _mine(f.apply_for_merchant("M-FZ-NEW", "91350100M000100Y43")),
        _mine(_merchant("onboarding.review.decide", ("reviewer", "RV-1"), decision="reject", reasons=["证照模糊 / unreadable"]),
              ("reviewer", None), missing=("merchant_id", "not_in_review")),
        _mine(_merchant("onboarding.documents.submit", ("merchant", "M-FZ-1"),
                        documents=[{"kind": "id_back", "uri": "docs://M-FZ-1/back.jpg", "sha256": "cd" * 32}]),
              missing=("merchant_id", "no_documents_requested")),
        _mine(_merchant("onboarding.merchant.activate", ("merchant", "M-FZ-1"), activation_code="123456"),
              missing=("merchant_id", "not_approved")),
        _mine(_merchant("onboarding.merchant.suspend", ("operator", "OP-1"), reason="投诉 / complaints"), ANY_OPERATOR,
              missing=("merchant_id", "not_active")),
        _mine(_merchant("onboarding.merchant.reinstate", ("operator", "OP-1"), reason="已查明 / cleared"), ANY_OPERATOR,
              missing=("merchant_id", "not_suspended")),
    )),
    "notifications": Topic(notifications.COMMANDS, (
        _mine(f.register_contact("buyer", BUYER, language="en", phone="13912345678"), ANY_OPERATOR),
        _mine(f.set_preference("buyer", BUYER, muted_channels=["sms"]), ANY_OPERATOR),
        _mine(f.register_webhook(MERCHANT, "https://shop.example.com/danbao/hook", "whsec_" + "f" * 32), ANY_OPERATOR),
    )),
}
CONTROL = Topic(control.COMMANDS, (Command(f.advance_clock(60, "fuzz")),))  # any actor (refused in production mode)


def signed(payload: SignedCallback, secret: str) -> dict[str, Any]:
    """A callback as the outside system sends it, signed with ``secret``."""
    return f.envelope(payload.TYPE, payload.signed(secret).model_dump(mode="json"), actor=("system", "outside"))  # type: ignore[attr-defined]


PSP_SECRET, BANK_SECRET = PaymentsSettings().psp_callback_secret, PaymentsSettings().bank_callback_secret
INSURER_SECRET = DisputesSettings().insurer_callback_secret
REGISTRY_SECRET = OnboardingSettings().registry_callback_secret
_CNY = {"amount": 12900, "currency": "CNY"}
CALLBACKS: dict[str, tuple[Topic, ...]] = {
    "payments": (
        Topic(psp.CALLBACKS, (Command(signed(psp.ChargeCallback(
            intent_id="PI-O-FZ-OPEN-1", order_id="O-FZ-OPEN", status="succeeded", amount=_CNY, provider_txn_id="PSP-FZ",
            signature=""), PSP_SECRET)),), ignores_unknown_types=True),
        Topic(bank.CALLBACKS, (Command(signed(bank.TransferCompleted(
            payout_id="PO-FZ-1", status="settled", amount={"amount": 100}, bank_txn_id="BK-FZ", signature=""), BANK_SECRET)),)),
    ),
    "escrow": (Topic(psp.CALLBACKS, (Command(signed(psp.RefundCallback(
        refund_id="RF-O-FZ-HELD-12900", order_id="O-FZ-HELD", amount=_CNY, provider_txn_id="PSP-R-FZ", signature=""), PSP_SECRET)),),
        ignores_unknown_types=True),),
    "disputes": (Topic(insurer.CALLBACKS, (
        Command(signed(insurer.ClaimDecided(claim_id="CL-C-FZ-1-1", case_id="C-FZ-1", decision="approved",
                                             approved={"amount": 12900}, signature=""), INSURER_SECRET)),
        Command(signed(insurer.ClaimPaid(claim_id="CL-C-FZ-1-1", case_id="C-FZ-1", amount={"amount": 12900},
                                          insurer_txn_id="INS-FZ", signature=""), INSURER_SECRET)),
    )),),
    "onboarding": (Topic(registry.RESULTS, (Command(signed(registry.CompanyFound(
        merchant_id="M-FZ-1", credit_code="91350100M000100Y43", status="active", registered_name="杭州小盾牌贸易有限公司",
        signature=""), REGISTRY_SECRET)),)),),
}


def topics_of(service: str) -> list[Topic]:
    """Every topic on which ``service`` takes orders: commands, control, signed callbacks."""
    return [COMMANDS[service], CONTROL, *CALLBACKS.get(service, ())]
