"""Onboarding's handler of the credit registry's answers on FastStream's in-memory test broker, with
SQLite: only an answer signed with the shared registry callback secret counts; an unsigned, forged
or tampered one is dead-lettered as ``bad_signature`` and changes nothing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from services.onboarding import store
from services.onboarding.app import build
from services.onboarding.domain import Status
from services.onboarding.handlers import REGISTRY_WAIT
from services.simulators.registry import ACTIVE
from shared import topics
from shared.contracts import registry
from shared.db import run
from shared.envelope import Actor, ActorKind, Envelope
from shared.messaging import OutboxMessage
from shared.timers import DurableTimer
from tests import factories as f
from tests.handlers.harness import serving

SECRET = "dev-only-registry-callback-secret"  # onboarding's default
MERCHANT = "M-R-1"
NAME = "杭州小盾牌贸易有限公司"  # the applicant's legal name, as registered
_sent = itertools.count(1)


@pytest.fixture
async def service(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build()) as running:
        yield running


def answer(status: registry.RegistryStatus = registry.RegistryStatus.ACTIVE, name: str | None = NAME,
           merchant_id: str = MERCHANT, credit_code: str = ACTIVE) -> registry.CompanyFound:
    return registry.CompanyFound(merchant_id=merchant_id, credit_code=credit_code, status=status, registered_name=name,
                                 signature="")


def document(found: registry.CompanyFound) -> dict[str, Any]:
    sent = Envelope(type=found.TYPE, producer="registry-adapter", data=found, actor=Actor(kind=ActorKind.SYSTEM, id="registry"))
    return json.loads(sent.to_json())


async def publish(runtime: Any, broker: Any, topic: str, value: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Send one record (each its own timestamp: the test broker puts every record at offset 0); the outbox rows it caused."""
    seen = getattr(runtime, "seen", 0)
    await broker.publish(value, topic, key=MERCHANT.encode(), timestamp_ms=1_700_000_000_000 + next(_sent))
    async with runtime.db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.id) > seen).order_by(col(OutboxMessage.id)))).all()
    runtime.seen = max([seen, *(r.id for r in rows)])
    return [(r.topic, json.loads(r.payload)) for r in rows]


async def snapshot(runtime: Any) -> dict[str, list[str]]:
    """Every row of every domain table and the timers (all but the messaging bookkeeping)."""
    async with runtime.db.transaction() as session:
        return {table.__tablename__: sorted(map(repr, await run(session, sa_select(table.__table__), fetch="all")))
                for table in [DurableTimer, *runtime.definition.schema.tables]}


async def applied(runtime: Any, broker: Any) -> None:
    caused = await publish(runtime, broker, topics.commands("onboarding"), f.encode(f.apply_for_merchant(MERCHANT, ACTIVE)))
    assert [m["type"] for _, m in caused] == ["onboarding.merchant.contact_provided", "onboarding.application.received",
                                              "registry.company.lookup"]


def _forgeries() -> list[tuple[str, dict[str, Any]]]:
    revoked = answer(registry.RegistryStatus.REVOKED, "杭州已吊销贸易有限公司").signed(SECRET)
    other = answer(merchant_id="M-R-OTHER").signed(SECRET)
    return [
        ("unsigned", document(answer())),
        ("signed with another secret", document(answer().signed("not-the-registry's-secret"))),
        ("a signature that is no hex at all", document(answer().model_copy(update={"signature": "签名"}))),
        ("a revoked company's answer turned active", document(revoked.model_copy(update={"status": registry.RegistryStatus.ACTIVE}))),
        ("its registered name changed", document(answer(name="杭州另一家贸易有限公司").signed(SECRET).model_copy(
            update={"registered_name": NAME}))),
        ("another applicant's answer", document(other.model_copy(update={"merchant_id": MERCHANT}))),
        ("another credit code's answer", document(answer(credit_code="91350100M000100Y43").signed(SECRET).model_copy(
            update={"credit_code": ACTIVE}))),
    ]


async def test_an_unsigned_forged_or_tampered_registry_answer_is_dead_lettered_and_changes_nothing(  # type: ignore[no-untyped-def]
        service) -> None:
    runtime, broker = service
    await applied(runtime, broker)
    before = await snapshot(runtime)
    assert any(REGISTRY_WAIT in row for row in before["durable_timer"]) and before["merchant_application"]
    for what, forged in _forgeries():
        answers = await publish(runtime, broker, topics.REGISTRY_RESULTS, f.encode(forged))
        assert [(t, m["type"]) for t, m in answers] == [(topics.dead_letters("onboarding"), "deadletter.recorded")], what
        dead = answers[0][1]["data"]
        assert (dead["reason"], dead["source_topic"]) == ("bad_signature", topics.REGISTRY_RESULTS), what
        assert MERCHANT in dead["detail"], what
    without_signature = document(answer())
    del without_signature["data"]["signature"]
    answers = await publish(runtime, broker, topics.REGISTRY_RESULTS, f.encode(without_signature))
    assert [(m["type"], m["data"]["reason"]) for _, m in answers] == [("deadletter.recorded", "invalid_payload")]
    assert await snapshot(runtime) == before
    async with runtime.db.transaction() as session:
        _, application = await store.load(session, MERCHANT)
    assert application is not None and application.status is Status.CHECKING


async def test_an_answer_signed_with_the_shared_secret_completes_the_checks(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    assert runtime.settings.registry_callback_secret == SECRET
    await applied(runtime, broker)
    caused = await publish(runtime, broker, topics.REGISTRY_RESULTS, f.encode(document(answer().signed(SECRET))))
    types = [m["type"] for _, m in caused]
    assert "deadletter.recorded" not in types and "onboarding.application.approved" in types, types
    checks = next(m for _, m in caused if m["type"] == "onboarding.checks.completed")["data"]
    assert checks["outcome"] == "approved" and {c["name"]: c["passed"] for c in checks["checks"]}["registry"] is True
    async with runtime.db.transaction() as session:
        _, application = await store.load(session, MERCHANT)
    assert application is not None and application.status is Status.APPROVED


async def test_a_signed_answer_that_the_company_is_revoked_rejects_the_application(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await applied(runtime, broker)
    revoked = answer(registry.RegistryStatus.REVOKED, "杭州已吊销贸易有限公司").signed(SECRET)
    caused = await publish(runtime, broker, topics.REGISTRY_RESULTS, f.encode(document(revoked)))
    assert [m["type"] for _, m in caused] == ["onboarding.checks.completed", "onboarding.application.rejected"]


async def test_activation_announces_the_verified_settlement_account_masked_and_sealed_for_the_bank(service) -> None:  # type: ignore[no-untyped-def]
    from shared.contracts import onboarding
    from shared.contracts.settlement import open_account
    from shared.pii import FieldCipher, development_keys

    runtime, broker = service
    await applied(runtime, broker)
    caused = await publish(runtime, broker, topics.REGISTRY_RESULTS, f.encode(document(answer().signed(SECRET))))
    issued = onboarding.ActivationCodeIssued.model_validate(
        next(m for _, m in caused if m["type"] == "onboarding.activation.code_issued")["data"])
    code = issued.unseal(runtime.settings.contact_seal())
    activate = f.envelope("onboarding.merchant.activate", {"merchant_id": MERCHANT, "activation_code": code}, actor=("merchant", MERCHANT))
    caused = await publish(runtime, broker, topics.commands("onboarding"), f.encode(activate))
    activated = next(m for _, m in caused if m["type"] == "onboarding.merchant.activated")["data"]
    ref = activated["settlement_account_ref"]
    assert ref.startswith("SA-") and activated["settlement_account_masked"] == "6222 **** **** 0128"
    assert activated["settlement_account_kind"] == "corporate"  # an enterprise, by default
    bank_keys = FieldCipher.from_spec(development_keys("bank account seal"))  # the bank simulator's in dev mode
    assert open_account(activated["sealed_settlement_account"], MERCHANT, ref, bank_keys) == f.BANK_CARD
    assert f.BANK_CARD not in json.dumps(activated)
    async with runtime.db.transaction() as session:
        _, application = await store.load(session, MERCHANT)
    assert application is not None and application.settlement_account_ref == ref
