"""Merchant onboarding through the real broker and processes: apply → checks (registry simulator)
→ approval → activation → payments accepts the merchant; suspension stops it. No plaintext PII
in the service's database file or on any topic."""

from __future__ import annotations

import json
import uuid

import pytest

from ops.kafka import read
from ops.platform import LocalPlatform
from services.onboarding.config import OnboardingSettings
from services.simulators.registry import ACTIVE, ACTIVE_2, OTHER_NAME, REVOKED
from shared.consumer import open_dead_letter
from shared.contracts.onboarding import ActivationCodeIssued
from tests.factories import BANK_CARD, ID_NUMBER, PHONE, apply_for_merchant, create_order, envelope
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


async def test_apply_approve_activate_then_payments_accepts_and_suspension_stops_it(kafka: Kafka) -> None:
    merchant = f"M-{uuid.uuid4().hex[:8]}"
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", create_order(order_id, merchant=merchant), key=order_id)  # not yet a merchant
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(merchant, ACTIVE_2, legal_name="杭州绿盾科技有限公司"), key=merchant)
    events = await kafka.read_until("danbao.onboarding.events", _has("onboarding.activation.code_issued", merchant_id=merchant))
    checks = next(m for m in events if of("onboarding.checks.completed", merchant_id=merchant)(m))["data"]
    assert checks["outcome"] == "approved" and {c["name"] for c in checks["checks"]} >= {"formats", "duplicate", "registry", "risk"}
    issued = next(m for m in events if of("onboarding.activation.code_issued", merchant_id=merchant)(m))["data"]
    assert "activation_code" not in issued  # sealed: reading the topic does not activate a merchant
    code = ActivationCodeIssued.model_validate(issued).unseal(OnboardingSettings().contact_seal())  # what the e-mail says

    await kafka.send("danbao.onboarding.commands", envelope("onboarding.merchant.activate", {
        "merchant_id": merchant, "activation_code": code}, actor=("merchant", merchant)), key=merchant)
    events = await kafka.read_until("danbao.onboarding.events", _has("onboarding.merchant.activated", merchant_id=merchant))
    activated = next(m for m in events if of("onboarding.merchant.activated", merchant_id=merchant)(m))["data"]
    assert activated["verified"] is True

    # The order sent before the merchant even applied waited for the activation (DANBAO_PARK_SECONDS),
    # and one sent the instant it was activated needs no retry: both are created, neither refused.
    second = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", create_order(second, merchant=merchant), key=second)
    for order in (order_id, second):
        payments = await kafka.read_until("danbao.payments.events", _has("payments.order.created", order_id=order))
        assert _has("payments.order.created", order_id=order)(payments)
    assert not _has("payments.command.rejected", aggregate_id=order_id)(payments)
    assert not _has("payments.command.rejected", aggregate_id=second)(payments)

    await kafka.send("danbao.onboarding.commands", envelope("onboarding.merchant.suspend", {
        "merchant_id": merchant, "reason": "complaints under investigation"}, actor=("operator", "OP-1")), key=merchant)
    await kafka.read_until("danbao.onboarding.events", _has("onboarding.merchant.suspended", merchant_id=merchant))
    refused = f"O-{uuid.uuid4().hex[:8]}"
    for _ in range(20):
        await kafka.send("danbao.payments.commands", create_order(refused, merchant=merchant), key=refused)
        payments = await kafka.read_until("danbao.payments.events", lambda ms: any(
            m["data"].get("order_id") == refused or m["data"].get("aggregate_id") == refused for m in ms))
        if _has("payments.command.rejected", aggregate_id=refused)(payments):
            break
        refused = f"O-{uuid.uuid4().hex[:8]}"
    assert next(m for m in payments if of("payments.command.rejected", aggregate_id=refused)(m))["data"]["reason"] == "merchant_not_active"


async def test_revoked_companies_are_rejected_and_name_mismatches_go_to_review(kafka: Kafka) -> None:
    revoked, mismatch, invalid = (f"M-{uuid.uuid4().hex[:8]}" for _ in range(3))
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(revoked, REVOKED), key=revoked)
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(mismatch, OTHER_NAME), key=mismatch)
    bad = apply_for_merchant(invalid, ACTIVE_2, legal_rep_id_number=ID_NUMBER[:-1] + "1")  # sealed, opens, fails the check
    await kafka.send("danbao.onboarding.commands", bad, key=invalid)
    events = await kafka.read_until("danbao.onboarding.events", lambda ms: _has("onboarding.application.rejected", merchant_id=revoked)(ms)
                                    and _has("onboarding.review.required", merchant_id=mismatch)(ms)
                                    and _has("onboarding.command.rejected", aggregate_id=invalid)(ms))
    assert "revoked" in next(m for m in events if of("onboarding.application.rejected", merchant_id=revoked)(m))["data"]["reasons"][0]
    rejection = next(m for m in events if of("onboarding.command.rejected", aggregate_id=invalid)(m))["data"]
    assert rejection["reason"] == "invalid_fields" and rejection["detail"].startswith("legal_rep_id_number:")


async def test_no_plaintext_personal_data_in_the_database_file_or_on_the_topics(platform: LocalPlatform, kafka: Kafka) -> None:
    merchant, malformed = f"M-{uuid.uuid4().hex[:8]}", f"M-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(merchant, ACTIVE_2, legal_name="杭州绿盾科技有限公司"), key=merchant)
    # An application no schema accepts is dead-lettered; its personal data stays sealed there.
    unreadable = apply_for_merchant(malformed, ACTIVE_2, documents="none")
    await kafka.send("danbao.onboarding.commands", unreadable, key=malformed)
    await kafka.read_until("danbao.onboarding.events", _has("onboarding.checks.completed", merchant_id=merchant))
    letters = await kafka.read_until("danbao.onboarding.dlq", lambda ms: any(m["data"]["source_key"] == malformed for m in ms))
    letter = next(m for m in letters if m["data"]["source_key"] == malformed)["data"]
    assert letter["reason"] == "invalid_payload" and letter["original_encoding"] == "sealed"
    assert json.loads(open_dead_letter(letter, OnboardingSettings().cipher())) == unreadable  # what `danbao dlq replay` sends
    secrets = [ID_NUMBER.encode(), BANK_CARD.encode(), PHONE.encode(), b"finance@example.com"]
    if "DANBAO_ONBOARDING_DATABASE_URL" not in platform.extra_env:
        stored = b"".join(p.read_bytes() for p in platform.data_dir.glob("onboarding.db*"))
        assert stored and not [s for s in secrets if s in stored]
    # Everything the platform wrote (the commands topic carries what the applicant sent, over TLS in production).
    for topic in ("danbao.onboarding.events", "danbao.registry.requests", "danbao.registry.results", "danbao.onboarding.dlq"):
        values = b"".join([r.value or b"" async for r in read(kafka.bootstrap, topic, idle_timeout=1.0)])
        assert not [s for s in secrets if s in values], topic


async def test_a_silent_registry_goes_to_review_and_an_overdue_review_is_escalated(kafka: Kafka) -> None:
    from services.simulators.registry import SILENT
    from tests.factories import advance_clock

    silent, mismatch = f"M-{uuid.uuid4().hex[:8]}", f"M-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(silent, SILENT), key=silent)
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(mismatch, OTHER_NAME), key=mismatch)
    await kafka.read_until("danbao.onboarding.events", _has("onboarding.review.required", merchant_id=mismatch))
    for attempt in range(3):  # the registry never answers: each 30 s wait retries, the third hands over
        tag = f"clock-{silent}-{attempt}"
        await kafka.send("danbao.control.commands", advance_clock(31, tag), key="clock")
        await kafka.read_until("danbao.control.events", lambda ms, tag=tag: any(
            m["correlation_id"] == tag and m["data"]["service"] == "onboarding" for m in ms))
        lookups = await kafka.read_until("danbao.registry.requests", lambda ms, n=attempt + 2: sum(
            m["data"]["merchant_id"] == silent for m in ms) >= min(n, 3), timeout=30)
    events = await kafka.read_until("danbao.onboarding.events", _has("onboarding.review.required", merchant_id=silent), timeout=30)
    review = next(m for m in events if of("onboarding.review.required", merchant_id=silent)(m))["data"]
    assert "did not answer" in review["reasons"][0]
    assert sum(m["data"]["merchant_id"] == silent for m in lookups) == 3

    tag = f"clock-sla-{silent}"
    await kafka.send("danbao.control.commands", advance_clock(10 * 86400, tag), key="clock")  # well past 3 business days
    events = await kafka.read_until("danbao.onboarding.events", lambda ms: _has("onboarding.review.escalated", merchant_id=silent)(ms)
                                    and _has("onboarding.review.escalated", merchant_id=mismatch)(ms), timeout=30)
    escalated = next(m for m in events if of("onboarding.review.escalated", merchant_id=mismatch)(m))["data"]
    assert escalated["business_days"] == 3


async def test_an_expired_activation_code_is_reissued_on_request(kafka: Kafka) -> None:
    from tests.factories import advance_clock

    merchant = f"M-{uuid.uuid4().hex[:8]}"
    # ACTIVE, not ACTIVE_2: the first test leaves a merchant with ACTIVE_2 suspended, so its code counts as taken.
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(merchant, ACTIVE), key=merchant)
    events = await kafka.read_until("danbao.onboarding.events", _has("onboarding.activation.code_issued", merchant_id=merchant))
    first = ActivationCodeIssued.model_validate(next(m for m in events if of("onboarding.activation.code_issued", merchant_id=merchant)(m))["data"])
    tag = f"clock-{merchant}"
    await kafka.send("danbao.control.commands", advance_clock(8 * 86400, tag), key="clock")  # the code lives seven days
    await kafka.read_until("danbao.control.events", lambda ms: any(m["correlation_id"] == tag and m["data"]["service"] == "onboarding" for m in ms))
    old_code = first.unseal(OnboardingSettings().contact_seal())
    activate = envelope("onboarding.merchant.activate", {"merchant_id": merchant, "activation_code": old_code}, actor=("merchant", merchant))
    await kafka.send("danbao.onboarding.commands", activate, key=merchant)
    events = await kafka.read_until("danbao.onboarding.events", lambda ms: any(
        m["type"] == "onboarding.command.rejected" and m["data"]["command_event_id"] == activate["event_id"] for m in ms))
    assert next(m for m in events if m["data"].get("command_event_id") == activate["event_id"])["data"]["reason"] == "code_expired"

    await kafka.send("danbao.onboarding.commands", envelope("onboarding.activation.reissue", {"merchant_id": merchant},
                                                            actor=("merchant", merchant)), key=merchant)
    events = await kafka.read_until("danbao.onboarding.events", lambda ms: sum(of("onboarding.activation.code_issued", merchant_id=merchant)(m) for m in ms) == 2)
    second = ActivationCodeIssued.model_validate([m for m in events if of("onboarding.activation.code_issued", merchant_id=merchant)(m)][-1]["data"])
    assert second.expires_at > first.expires_at
    await kafka.send("danbao.onboarding.commands", envelope("onboarding.merchant.activate", {
        "merchant_id": merchant, "activation_code": second.unseal(OnboardingSettings().contact_seal())}, actor=("merchant", merchant)), key=merchant)
    await kafka.read_until("danbao.onboarding.events", _has("onboarding.merchant.activated", merchant_id=merchant))
