from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.onboarding import domain
from services.onboarding.config import OnboardingSettings
from services.onboarding.domain import Status
from shared.contracts import onboarding, registry
from shared.envelope import Actor
from shared.unit_of_work import Rejected
from tests.factories import apply_for_merchant

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)
CODE = "91330100MA2AAAAA71"
MERCHANT = Actor(kind="merchant", id="M-9")


def _command(**overrides: object) -> onboarding.ApplyForMerchant:
    document = apply_for_merchant("M-9", CODE, seal=False)  # the domain sees the opened fields
    document["data"].update(overrides)
    return onboarding.COMMANDS.parse(document).data


def _found(status: str = "active", name: str = "杭州小盾牌贸易有限公司") -> registry.CompanyFound:
    return registry.CompanyFound(merchant_id="M-9", credit_code=CODE, status=status, registered_name=name,
                                 signature="").signed(OnboardingSettings().registry_callback_secret)


def _checking() -> domain.Application:
    decision = domain.apply(None, _command(), MERCHANT, NOW, credit_code_taken=False)
    assert decision.application is not None
    return decision.application


@pytest.mark.parametrize(("field", "value", "also"), [
    ("credit_code", "91330100MA2AAAAA72", {}), ("legal_rep_id_number", "110105194912310021", {}),
    ("credit_code", "91330106739184620Y", {}),  # the embedded organization code's check digit is wrong (…620 for …629)
    ("settlement_account", "6222021234567890123", {"settlement_account_kind": "personal_card"}),  # fails Luhn
    ("settlement_account", "6222021234567890123", {"merchant_type": "individual_business"}),  # a card by default
    ("settlement_account", "12345678", {}), ("settlement_account", "3301-0400-1234", {"settlement_account_kind": "corporate"}),
    ("phone", "23812345678", {}), ("email", "not-an-address", {}),
])
def test_each_invalid_field_is_rejected_naming_the_field(field: str, value: str, also: dict[str, str]) -> None:
    with pytest.raises(Rejected) as caught:
        domain.apply(None, _command(**{field: value, **also}), MERCHANT, NOW, credit_code_taken=False)
    assert caught.value.reason == "invalid_fields" and caught.value.detail.startswith(f"{field}: ")


def test_an_enterprise_settles_to_a_corporate_account_checked_by_format_not_luhn() -> None:
    corporate = "33050161672700000123"  # 20 digits, not Luhn-valid: corporate account numbers are bank-specific
    decision = domain.apply(None, _command(settlement_account=corporate), MERCHANT, NOW, credit_code_taken=False)
    received = decision.events[0]
    assert isinstance(received, onboarding.ApplicationReceived)
    assert received.settlement_account_kind is onboarding.SettlementAccountKind.CORPORATE
    assert received.settlement_account_masked == "3305 **** **** 0123"
    assert decision.application is not None and decision.application.settlement_account_kind == "corporate"
    card = domain.apply(None, _command(merchant_type="individual_business"), MERCHANT, NOW, credit_code_taken=False)
    assert card.application is not None and card.application.settlement_account_kind == "personal_card"


def test_an_application_is_received_masked_and_looked_up_in_the_registry() -> None:
    decision = domain.apply(None, _command(), MERCHANT, NOW, credit_code_taken=False)
    received, lookup = decision.events
    assert isinstance(received, onboarding.ApplicationReceived) and isinstance(lookup, registry.LookupCompany)
    assert received.phone_masked == "138****5678" and received.id_number_masked == "110***********002X"
    text = received.model_dump_json()
    assert "13812345678" not in text and "11010519491231002X" not in text and "6222021234567890128" not in text


def test_active_company_with_matching_name_is_approved_automatically_and_activates_with_its_code() -> None:
    decision = domain.registry_answered(_checking(), _found(), NOW, domain.NewCode("402913", "sealed-402913"))
    checks, approved, code = decision.events
    assert isinstance(checks, onboarding.ChecksCompleted) and checks.outcome == "approved"
    assert isinstance(approved, onboarding.ApplicationApproved) and approved.verified and approved.by == "automatic"
    assert isinstance(code, onboarding.ActivationCodeIssued) and code.sealed_code == "sealed-402913"
    application = decision.application
    assert application is not None and application.status is Status.APPROVED
    with pytest.raises(Rejected, match="wrong_code"):
        domain.activate(application, onboarding.ActivateMerchant(merchant_id="M-9", activation_code="000000"), MERCHANT, NOW)
    with pytest.raises(Rejected, match="code_expired"):
        domain.activate(application, onboarding.ActivateMerchant(merchant_id="M-9", activation_code="402913"), MERCHANT, NOW + timedelta(days=8))
    account = domain.VerifiedAccount("SA-1", "6222 **** **** 0128", onboarding.SettlementAccountKind.CORPORATE, "v1:k1:sealed")
    active = domain.activate(application, onboarding.ActivateMerchant(merchant_id="M-9", activation_code="402913"), MERCHANT,
                             NOW, account)
    (activated,) = active.events
    assert isinstance(activated, onboarding.MerchantActivated) and activated.verified and activated.industry == "retail"
    assert (activated.settlement_account_ref, activated.settlement_account_masked, activated.settlement_account_kind,
            activated.sealed_settlement_account) == ("SA-1", "6222 **** **** 0128", "corporate", "v1:k1:sealed")
    assert active.application is not None and active.application.settlement_account_ref == "SA-1"


@pytest.mark.parametrize("status", ["revoked", "deregistered", "not_found"])
def test_a_company_that_is_not_active_is_rejected(status: str) -> None:
    decision = domain.registry_answered(_checking(), _found(status, None), NOW, domain.NewCode("1", "sealed-1"))  # type: ignore[arg-type]
    assert decision.application is not None and decision.application.status is Status.REJECTED
    assert isinstance(decision.events[-1], onboarding.ApplicationRejected)
    again = domain.apply(decision.application, _command(), MERCHANT, NOW, credit_code_taken=False)  # may resubmit
    assert again.application is not None and again.application.status is Status.CHECKING


def test_a_name_mismatch_goes_to_a_reviewer_who_alone_decides() -> None:
    decision = domain.registry_answered(_checking(), _found(name="杭州另一家贸易有限公司"), NOW, domain.NewCode("1", "sealed-1"))
    checks, review = decision.events
    assert isinstance(review, onboarding.ReviewRequired) and checks.outcome == "manual_review"  # type: ignore[attr-defined]
    in_review = decision.application
    approve = onboarding.DecideReview(merchant_id="M-9", decision="approve")
    with pytest.raises(Rejected, match="forbidden"):
        domain.decide_review(in_review, approve, MERCHANT, NOW, domain.NewCode("1", "sealed-1"))
    with pytest.raises(Rejected, match="reasons_required"):
        domain.decide_review(in_review, onboarding.DecideReview(merchant_id="M-9", decision="reject"), Actor(kind="reviewer", id="R-1"), NOW, domain.NewCode("1", "sealed-1"))
    approved = domain.decide_review(in_review, approve, Actor(kind="reviewer", id="R-1"), NOW, domain.NewCode("123456", "sealed-123456"))
    assert approved.application is not None and approved.application.status is Status.APPROVED
    assert approved.application.verified is False  # the registry did not confirm the name: no badge


def test_duplicates_are_rejected_and_only_operators_suspend() -> None:
    duplicate = domain.apply(None, _command(), MERCHANT, NOW, credit_code_taken=True)
    assert duplicate.application is not None and duplicate.application.status is Status.REJECTED
    active = domain.Application(merchant_id="M-9", merchant_type=onboarding.MerchantType.ENTERPRISE, legal_name="x",
                                credit_code=CODE, industry="retail", has_licence=True, email_masked="f***@e.com", status=Status.ACTIVE)
    with pytest.raises(Rejected, match="forbidden"):
        domain.suspend(active, "M-9", "r", MERCHANT)
    suspended = domain.suspend(active, "M-9", "complaints", Actor(kind="operator", id="ops-1")).application
    assert suspended is not None and suspended.status is Status.SUSPENDED
    back = domain.reinstate(suspended, "M-9", "cleared", Actor(kind="operator", id="ops-1")).application
    assert back is not None and back.status is Status.ACTIVE


def test_a_silent_registry_is_asked_three_times_then_a_reviewer_takes_over() -> None:
    application = _checking()
    assert application.lookups == 1
    for attempt in (2, 3):
        retry = domain.registry_silent(application, NOW)
        assert isinstance(retry.events[0], registry.LookupCompany) and retry.application is not None
        application = retry.application
        assert application.lookups == attempt
    handed_over = domain.registry_silent(application, NOW)
    assert handed_over.application is not None and handed_over.application.status is Status.MANUAL_REVIEW
    review = handed_over.events[-1]
    assert isinstance(review, onboarding.ReviewRequired) and "did not answer" in review.reasons[0]


def test_the_review_sla_counts_business_days_over_a_holiday_and_escalates_once_due() -> None:
    from shared.business_days import CHINA, is_business_day

    before_national_day = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)
    decision = domain.registry_answered(_checking(), _found(name="杭州另一家贸易有限公司"), before_national_day, domain.NewCode("1", "sealed-1"))
    review = decision.events[-1]
    assert isinstance(review, onboarding.ReviewRequired)
    due_local = review.due_at.astimezone(CHINA)
    assert due_local.date() > datetime(2026, 10, 7).date() and is_business_day(due_local.date()) and due_local.hour == 18
    (escalated,) = domain.review_overdue(decision.application).events
    assert isinstance(escalated, onboarding.ReviewEscalated) and escalated.business_days == 3
    assert domain.review_overdue(domain.decide_review(decision.application, onboarding.DecideReview(
        merchant_id="M-9", decision="approve"), Actor(kind="reviewer", id="R-1"), NOW, domain.NewCode("1", "sealed-1")).application).events == []


def test_a_review_sla_reaching_a_year_without_holiday_data_falls_due_on_the_third_calendar_day() -> None:
    from shared.business_days import CHINA

    last_week_of_2027 = datetime(2027, 12, 29, 2, 0, tzinfo=timezone.utc)  # 2028 has no data: no business days there
    due = domain.review_due(last_week_of_2027).astimezone(CHINA)
    assert (due.date(), due.hour) == (datetime(2028, 1, 1).date(), 18)  # never later than the business-day deadline
    assert domain.review_due(NOW) > NOW


def test_a_reviewer_may_ask_for_documents_and_the_review_resumes_when_they_arrive() -> None:
    in_review = domain.registry_answered(_checking(), _found(name="杭州另一家贸易有限公司"), NOW, domain.NewCode("1", "sealed-1")).application
    reviewer = Actor(kind="reviewer", id="R-1")
    asked = domain.decide_review(in_review, onboarding.DecideReview(
        merchant_id="M-9", decision="request_documents", reasons=["licence photo unreadable"]), reviewer, NOW, domain.NewCode("1", "sealed-1"))
    assert asked.application is not None and asked.application.status is Status.DOCUMENTS_REQUESTED
    assert isinstance(asked.events[0], onboarding.DocumentsRequested)
    documents = onboarding.SubmitDocuments(merchant_id="M-9", documents=[{"kind": "business_licence", "uri": "docs://M-9/licence-2.jpg", "sha256": "ef" * 32}])
    with pytest.raises(Rejected, match="forbidden"):
        domain.documents_submitted(asked.application, documents, reviewer, NOW)
    resumed = domain.documents_submitted(asked.application, documents, MERCHANT, NOW + timedelta(days=1))
    assert resumed.application is not None and resumed.application.status is Status.MANUAL_REVIEW
    assert isinstance(resumed.events[0], onboarding.ReviewRequired) and resumed.events[0].due_at > NOW + timedelta(days=1)


def test_an_expired_activation_code_is_reissued_and_only_the_new_one_works() -> None:
    approved = domain.registry_answered(_checking(), _found(), NOW, domain.NewCode("402913", "sealed-402913")).application
    later = NOW + timedelta(days=8)
    activate = onboarding.ActivateMerchant(merchant_id="M-9", activation_code="402913")
    with pytest.raises(Rejected, match="code_expired"):
        domain.activate(approved, activate, MERCHANT, later)
    ask = onboarding.ReissueActivationCode(merchant_id="M-9")
    with pytest.raises(Rejected, match="forbidden"):
        domain.reissue(approved, ask, Actor(kind="merchant", id="M-OTHER"), later, domain.NewCode("1", "sealed-1"))
    for actor in (MERCHANT, Actor(kind="operator", id="OP-1")):
        decision = domain.reissue(approved, ask, actor, later, domain.NewCode("771204", "sealed-771204"))
        (issued,) = decision.events
        assert isinstance(issued, onboarding.ActivationCodeIssued) and issued.sealed_code == "sealed-771204"
        assert issued.expires_at == later + domain.ACTIVATION_VALID
    reissued = decision.application
    with pytest.raises(Rejected, match="wrong_code"):  # the old code stopped working
        domain.activate(reissued, activate, MERCHANT, later)
    active = domain.activate(reissued, onboarding.ActivateMerchant(merchant_id="M-9", activation_code="771204"), MERCHANT, later)
    assert active.application is not None and active.application.status is Status.ACTIVE
    with pytest.raises(Rejected, match="not_approved"):  # active now: nothing to reissue
        domain.reissue(active.application, ask, MERCHANT, later, domain.NewCode("1", "sealed-1"))
