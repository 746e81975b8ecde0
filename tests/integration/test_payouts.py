"""Payouts through the real broker and processes: a merchant onboarded with a corporate settlement account is
paid out to exactly that account (its opaque reference, the number sealed for the bank), at 09:00 on the
business day its schedule rule gives; a suspended merchant is not paid out, and what was scheduled before the
suspension goes back to its balance. The services warn on /health/ready about a year without official holidays."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from ops.kafka import read
from ops.platform import LocalPlatform
from services.onboarding.config import OnboardingSettings
from services.simulators.registry import ACTIVE, ACTIVE_2
from shared.business_days import CHINA, business_days_later, is_business_day
from shared.contracts.onboarding import ActivationCodeIssued
from shared.contracts.settlement import open_account
from shared.pii import FieldCipher, development_keys
from tests.conftest import PRODUCTION_STORE
from tests.factories import (
    advance_clock,
    apply_for_merchant,
    confirm_receipt,
    create_order,
    envelope,
    pay_order,
    record_shipment,
    request_payout,
)
from tests.integration.conftest import Kafka, of, running_platform

pytestmark = pytest.mark.integration

CORPORATE = "33050161672700000123"  # 对公账户: 20 digits, not Luhn-valid, as corporate accounts need not be
BANK_KEYS = FieldCipher.from_spec(development_keys("bank account seal"))  # the bank simulator's, in test mode
# Corporate payouts up to ¥10,000 go out T+2 here (the default is T+1), so the rule table visibly applies.
SCHEDULE = [{"channel": "corporate", "max_amount": 1_000_000, "business_days": 2}, {"business_days": 1}]


@pytest.fixture(scope="module", params=PRODUCTION_STORE)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    env = {"DANBAO_PAYMENTS_PAYOUT_SCHEDULE": json.dumps(SCHEDULE), "DANBAO_CALENDAR_WARNING_DAYS": "366"}
    with running_platform(request.param, tmp_path_factory.mktemp("payouts"), env) as running:
        yield running


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


def _one(messages: list[dict[str, Any]], type_: str, **data: object) -> dict[str, Any]:
    return next(m for m in messages if of(type_, **data)(m))


async def _onboard(kafka: Kafka, merchant: str, credit_code: str, **application: Any) -> dict[str, Any]:
    """Apply, pass the checks, activate with the e-mailed code; the activation event's data."""
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(merchant, credit_code, **application), key=merchant)
    events = await kafka.read_until("danbao.onboarding.events", _has("onboarding.activation.code_issued", merchant_id=merchant))
    issued = _one(events, "onboarding.activation.code_issued", merchant_id=merchant)["data"]
    code = ActivationCodeIssued.model_validate(issued).unseal(OnboardingSettings().contact_seal())
    await kafka.send("danbao.onboarding.commands", envelope("onboarding.merchant.activate", {
        "merchant_id": merchant, "activation_code": code}, actor=("merchant", merchant)), key=merchant)
    events = await kafka.read_until("danbao.onboarding.events", _has("onboarding.merchant.activated", merchant_id=merchant))
    return _one(events, "onboarding.merchant.activated", merchant_id=merchant)["data"]


async def _earn(kafka: Kafka, merchant: str) -> None:
    """A paid, shipped and confirmed order: the merchant's available balance grows by 12,823 fen."""
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", create_order(order_id, merchant=merchant), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.hold.created", order_id=order_id))
    await kafka.send("danbao.escrow.commands", record_shipment(order_id, merchant=merchant), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id), key=order_id)
    await kafka.read_until("danbao.escrow.events", _has("escrow.hold.released", order_id=order_id))


async def _advance(kafka: Kafka, days: int, tag: str) -> None:
    await kafka.send("danbao.control.commands", advance_clock(days * 86400, tag), key="clock")
    await kafka.read_until("danbao.control.events", lambda ms: any(
        m["correlation_id"] == tag and m["data"]["service"] == "payments" for m in ms))


async def test_a_payout_goes_to_the_verified_account_on_the_business_day_its_rule_gives(kafka: Kafka) -> None:
    merchant = f"M-{uuid.uuid4().hex[:8]}"
    activated = await _onboard(kafka, merchant, ACTIVE_2, legal_name="杭州绿盾科技有限公司", settlement_account=CORPORATE)
    ref = activated["settlement_account_ref"]
    assert (activated["settlement_account_kind"], activated["settlement_account_masked"]) == ("corporate", "3305 **** **** 0123")
    await _earn(kafka, merchant)

    payout = f"PO-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", request_payout(payout, 12000, merchant=merchant), key=merchant)
    events = await kafka.read_until("danbao.payments.events", _has("payments.payout.scheduled", payout_id=payout))
    scheduled = _one(events, "payments.payout.scheduled", payout_id=payout)
    data = scheduled["data"]
    assert (data["business_days"], data["account_ref"], data["account_masked"]) == (2, ref, "3305 **** **** 0123")
    transfer_at = datetime.fromisoformat(data["transfer_at"])
    assert transfer_at == business_days_later(datetime.fromisoformat(scheduled["occurred_at"]), 2)  # T+2, 09:00 China time
    assert is_business_day(transfer_at.astimezone(CHINA).date()) and transfer_at.astimezone(CHINA).hour == 9
    assert not _has("payments.payout.settled", payout_id=payout)(events)

    await _advance(kafka, 7, f"clock-{payout}")
    events = await kafka.read_until("danbao.payments.events", _has("payments.payout.settled", payout_id=payout), timeout=60)
    transfers = await kafka.read_until("danbao.bank.requests", _has("bank.transfer.requested", payout_id=payout))
    transfer = _one(transfers, "bank.transfer.requested", payout_id=payout)["data"]
    assert (transfer["merchant_id"], transfer["account_ref"], transfer["amount"]["amount"]) == (merchant, ref, 12000)
    assert open_account(transfer["sealed_account"], merchant, ref, BANK_KEYS) == CORPORATE  # the account it applied with
    for topic in ("danbao.bank.requests", "danbao.payments.events", "danbao.onboarding.events"):
        values = b"".join([r.value or b"" async for r in read(kafka.bootstrap, topic, idle_timeout=1.0)])
        assert CORPORATE.encode() not in values, topic


async def test_a_suspended_merchant_is_not_paid_out(kafka: Kafka) -> None:
    merchant = f"M-{uuid.uuid4().hex[:8]}"
    await _onboard(kafka, merchant, ACTIVE, settlement_account_kind="personal_card")
    await _earn(kafka, merchant)
    before = f"PO-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", request_payout(before, 10000, merchant=merchant), key=merchant)
    events = await kafka.read_until("danbao.payments.events", _has("payments.payout.scheduled", payout_id=before))
    assert _one(events, "payments.payout.scheduled", payout_id=before)["data"]["business_days"] == 1  # a card: T+1

    await kafka.send("danbao.onboarding.commands", envelope("onboarding.merchant.suspend", {
        "merchant_id": merchant, "reason": "complaints under investigation"}, actor=("operator", "OP-1")), key=merchant)
    await kafka.read_until("danbao.onboarding.events", _has("onboarding.merchant.suspended", merchant_id=merchant))
    for _ in range(20):  # payments reads the suspension on its own: until it has, a request is still accepted
        after = f"PO-{uuid.uuid4().hex[:8]}"
        await kafka.send("danbao.payments.commands", request_payout(after, 100, merchant=merchant), key=merchant)
        events = await kafka.read_until("danbao.payments.events", lambda ms, after=after: any(
            m["correlation_id"] == f"flow-{after}" for m in ms))
        answer = next(m for m in events if m["correlation_id"] == f"flow-{after}")
        if answer["type"] == "payments.command.rejected":
            break
    assert (answer["data"]["reason"], answer["data"]["aggregate_id"]) == ("merchant_suspended", merchant)

    await _advance(kafka, 7, f"clock-{before}")
    events = await kafka.read_until("danbao.payments.events", _has("payments.payout.failed", payout_id=before), timeout=60)
    failed = _one(events, "payments.payout.failed", payout_id=before)["data"]
    assert (failed["reason"], failed["reserved"]) == ("merchant_suspended", True)
    ledger = await kafka.read_until("danbao.escrow.events", lambda ms: any(
        m["type"] == "escrow.ledger.entry_posted" and m["data"]["kind"] == "payout_returned"
        and any(line["account"] == f"merchant_available:{merchant}" for line in m["data"]["lines"]) for m in ms))
    assert ledger
    transfers = [r async for r in read(kafka.bootstrap, "danbao.bank.requests", idle_timeout=1.0)]
    assert not [r for r in transfers if json.loads(r.value)["data"]["merchant_id"] == merchant]


def test_the_services_warn_of_a_year_without_official_holidays_on_readiness_and_in_metrics(platform: LocalPlatform) -> None:
    for name in ("payments", "onboarding"):
        process = platform.processes[name]
        with urllib.request.urlopen(process.health_url, timeout=5) as response:  # noqa: S310 - loopback
            body = json.loads(response.read())
        assert response.status == 200 and body["status"] == "ready"
        assert [w for w in body["warnings"] if w.startswith("business calendar:")], body
        with urllib.request.urlopen(process.health_url.replace("/health/ready", "/metrics"), timeout=5) as response:  # noqa: S310
            assert b"danbao_calendar_year_data{" in response.read()


async def test_the_audit_finds_each_transfer_went_to_a_verified_account_on_a_business_day(kafka: Kafka) -> None:
    from ops.audit import audit

    report = await audit(kafka.bootstrap)
    assert report.checks["payouts"].breaches == [] and report.checks["payouts"].checked >= 3  # 1 transfer, 2 scheduled
    assert report.counts["payout_transfers"] >= 1
    assert report.ok, {name: result.breaches[:3] for name, result in report.checks.items() if result.breaches}
