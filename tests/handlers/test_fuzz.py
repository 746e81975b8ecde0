"""Hypothesis fuzzing of every topic a service takes orders from (its commands, the control topic, the
signed callbacks), on the real subscribers and consumer path with FastStream's test broker and SQLite.

For each service, on top of seeded state (a paid order, holds, an open case, an application being
checked, contacts): bad messages are each answered by exactly one dead letter or one rejection with a
reason, change no row of any domain table (everything but the inbox, outbox and idempotency records),
and the service still handles a valid command after them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from services.disputes.app import build as build_disputes
from services.escrow.app import build as build_escrow
from services.notifications.app import build as build_notifications
from services.onboarding.app import build as build_onboarding
from services.payments.app import build as build_payments
from shared import topics
from shared.contracts import psp
from shared.db import run
from shared.messaging import IdempotencyRecord, OutboxMessage
from shared.timers import DurableTimer
from tests import factories as f
from tests.fuzzing import (
    COMMANDS, DEAD, MEGABYTE, NOTHING, PSP_SECRET, REJECTED, REPEATED, Bad, bad_messages, check_answer, open_case, oversized,
    refused, replays, signed, topics_of, unsealable,
)
from tests.handlers.harness import serving

FUZZ = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
Document = dict[str, Any]
MAX_MESSAGE = 1_048_576 - 1_000  # the producer's max_request_size, less the record's own bytes


def keyed(document: Document, key: str) -> Document:
    return {**document, "idempotency_key": key}


def hold_created(order_id: str) -> Document:
    return f.envelope("escrow.hold.created", {
        "hold_id": f"H-{order_id}", "order_id": order_id, "merchant_id": "M-1001", "buyer_id": "B-2001",
        "amount": {"amount": 12900, "currency": "CNY"}, "fee": 77, "auto_confirm_days": 7}, actor=("system", "escrow"))


def charge_succeeded(order_id: str) -> Document:
    return signed(psp.ChargeCallback(intent_id=f"PI-{order_id}-1", order_id=order_id, status="succeeded",
                                     amount={"amount": 12900, "currency": "CNY"}, provider_txn_id=f"PSP-{order_id}", signature=""),
                  PSP_SECRET)


COMMAND = topics.commands


# Per service: its seeded state, as (topic, message) in order, made when a test needs it (a command's token
# lives five minutes); and a valid command that must work after any bad message (new ids each time), with the
# event it must cause.
def seeds() -> dict[str, list[tuple[str, Document]]]:
    return {
        "payments": [
            (COMMAND("payments"), keyed(f.create_order("O-FZ-OPEN"), "create-O-FZ-OPEN")),
            (COMMAND("payments"), keyed(f.create_order("O-FZ-PAID"), "create-O-FZ-PAID")),
            (COMMAND("payments"), keyed(f.pay_order("O-FZ-PAID"), "pay-O-FZ-PAID")),
            (topics.PSP_CALLBACKS, charge_succeeded("O-FZ-PAID")),
            (COMMAND("payments"), keyed(f.request_payout("PO-FZ-1", 100), "payout-PO-FZ-1")),
        ],
        "escrow": [
            (topics.events("payments"), f.payment_succeeded("O-FZ-HELD")),
            (topics.events("payments"), f.payment_succeeded("O-FZ-SHIPPED")),
            (COMMAND("escrow"), keyed(f.record_shipment("O-FZ-SHIPPED"), "ship-O-FZ-SHIPPED")),
        ],
        "disputes": [
            (topics.events("escrow"), hold_created("O-FZ-HELD")),
            (topics.events("escrow"), hold_created("O-FZ-FREE")),
            (COMMAND("disputes"), keyed(open_case("C-FZ-1", "O-FZ-HELD"), "open-C-FZ-1")),
        ],
        "onboarding": [(COMMAND("onboarding"), keyed(f.apply_for_merchant("M-FZ-1", "91350100M000100Y43"), "apply-M-FZ-1"))],
        "notifications": [
            (COMMAND("notifications"), keyed(f.register_contact("buyer", "B-2001", phone="13812345678"), "contact-B-2001")),
            (COMMAND("notifications"), keyed(f.register_webhook("M-1001", "https://shop.example.com/hook", "whsec_" + "e" * 32), "hook-M-1001")),
        ],
    }


PROBES: dict[str, tuple[Callable[[str], list[tuple[str, Document]]], str]] = {
    "payments": (lambda n: [(COMMAND("payments"), f.create_order(f"O-FZ-P{n}"))], "payments.order.created"),
    "escrow": (lambda n: [(topics.events("payments"), f.payment_succeeded(f"O-FZ-P{n}")),
                          (COMMAND("escrow"), f.record_shipment(f"O-FZ-P{n}"))], "escrow.shipment.recorded"),
    "disputes": (lambda n: [(topics.events("escrow"), hold_created(f"O-FZ-P{n}")),
                            (COMMAND("disputes"), open_case(f"C-FZ-P{n}", f"O-FZ-P{n}"))], "disputes.case.opened"),
    "onboarding": (lambda n: [(COMMAND("onboarding"), f.apply_for_merchant(f"M-FZ-P{n}", "91350100M000100Y43"))],
                   "onboarding.application.received"),
    "notifications": (lambda n: [(COMMAND("notifications"), f.register_contact("buyer", f"B-FZ-P{n}", language="en"))],
                      "notifications.contact.registered"),
}
BUILDS = {"payments": build_payments, "escrow": build_escrow, "disputes": build_disputes, "onboarding": build_onboarding,
          "notifications": build_notifications}


@dataclass
class Fuzzed:
    """One service on the test broker, with its seeded state."""

    service: str
    runtime: Any
    broker: Any
    sent: int = 0
    seen: int = 0  # the last outbox row read
    probes: int = 0
    seeded: list[Document] = field(default_factory=list)

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> list[tuple[str, Document]]:
        """Send one record (each its own timestamp: the test broker puts every record at offset 0); the outbox rows it caused."""
        self.sent += 1
        await self.broker.publish(value, topic, key=key, timestamp_ms=1_700_000_000_000 + self.sent)
        async with self.runtime.db.transaction() as session:
            rows = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.id) > self.seen)
                                       .order_by(col(OutboxMessage.id)))).all()
        self.seen = max([self.seen, *(r.id for r in rows)])
        for r in rows:  # each fits an outbox key and one Kafka message, or the relay could never publish it
            assert (r.key is None or len(r.key) <= 200) and len(r.payload) + len(r.key or "") < MAX_MESSAGE, (r.topic, r.key, len(r.payload))
        return [(r.topic, json.loads(r.payload)) for r in rows]

    async def snapshot(self) -> dict[str, list[str]]:
        """Every row of every domain table (all but the messaging bookkeeping)."""
        async with self.runtime.db.transaction() as session:
            return {table.__tablename__: sorted(map(repr, await run(session, sa_select(table.__table__), fetch="all")))
                    for table in [DurableTimer, *self.runtime.definition.schema.tables]}

    async def first_outcome(self, key: str) -> set[str]:
        async with self.runtime.db.transaction() as session:
            record = (await session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == key))).one()
        return set(json.loads(record.event_ids))

    async def answered(self, bad: Bad) -> list[tuple[str, dict[str, Any]]]:
        """``bad`` is answered as it must be; what was answered."""
        answers = await self.publish(bad.topic, bad.value, bad.key)
        if bad.outcome == NOTHING:
            assert answers == [], f"{bad!r}: {answers}"
        elif bad.outcome == REPEATED:
            first = await self.first_outcome(json.loads(bad.value)["idempotency_key"])
            assert first and sorted(m["event_id"] for _, m in answers) == sorted(first), f"{bad!r}: {answers}"  # once each
        else:
            check_answer(bad, self.service, answers)
        return answers

    async def probe(self) -> None:
        """A new valid command still works."""
        self.probes += 1
        messages, expected = PROBES[self.service]
        caused = [m for topic, document in messages(str(self.probes)) for m in await self.publish(topic, f.encode(document))]
        assert expected in [m["type"] for _, m in caused], caused

    async def each_answered_changing_nothing(self, batch: list[Bad]) -> list[tuple[str, dict[str, Any]]]:
        before = await self.snapshot()
        answers = [answer for bad in batch for answer in await self.answered(bad)]
        assert await self.snapshot() == before, batch
        await self.probe()
        return answers


@pytest.fixture(params=list(BUILDS))
async def fuzzed(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Fuzzed]:
    # A command about an order or merchant not known yet is answered when its parking time runs out
    # (tests/handlers/test_disputes.py and test_payments_escrow_flow.py); here it is answered at once.
    monkeypatch.setenv("DANBAO_PARK_SECONDS", "0")
    async with serving(BUILDS[request.param]()) as (runtime, broker):
        target = Fuzzed(request.param, runtime, broker)
        for topic, document in seeds()[request.param]:
            caused = await target.publish(topic, f.encode(document))
            assert not [m for _, m in caused if m["type"].endswith((".command.rejected", "deadletter.recorded"))], caused
            if "idempotency_key" in document:
                target.seeded.append(document)
        assert any((await target.snapshot()).values())
        yield target


@FUZZ
@given(data=st.data())
async def test_undecodable_invalid_and_forged_messages_are_dead_lettered_and_change_nothing(fuzzed: Fuzzed, data: st.DataObject) -> None:
    topic = data.draw(st.sampled_from(topics_of(fuzzed.service)), label="topic")
    batch = data.draw(st.lists(bad_messages(topic), min_size=1, max_size=3), label="messages")
    assert all(bad.outcome == DEAD for bad in batch)
    await fuzzed.each_answered_changing_nothing(batch)


@FUZZ
@given(data=st.data())
async def test_commands_from_the_forbidden_or_about_nothing_are_rejected_and_change_nothing(fuzzed: Fuzzed, data: st.DataObject) -> None:
    batch = data.draw(st.lists(refused(COMMANDS[fuzzed.service]), min_size=1, max_size=3), label="commands")
    assert all(bad.outcome == REJECTED for bad in batch)
    await fuzzed.each_answered_changing_nothing(batch)


@pytest.mark.parametrize("fuzzed", ["onboarding", "notifications"], indirect=True)
@FUZZ
@given(data=st.data())
async def test_personal_fields_that_do_not_open_are_rejected_without_their_value_and_change_nothing(
        fuzzed: Fuzzed, data: st.DataObject) -> None:
    batch = data.draw(st.lists(unsealable(COMMANDS[fuzzed.service]), min_size=1, max_size=3), label="commands")
    answers = json.dumps([m for _, m in await fuzzed.each_answered_changing_nothing(batch)], ensure_ascii=False)
    for bad in batch:
        if bad.what.startswith("plaintext"):
            value = json.loads(bad.value)["data"][bad.what.rsplit(" ", 1)[1]]
            assert value not in answers, bad


@FUZZ
@given(data=st.data())
async def test_replayed_commands_act_once(fuzzed: Fuzzed, data: st.DataObject) -> None:
    batch = data.draw(st.lists(replays(COMMANDS[fuzzed.service].contract.topic, fuzzed.seeded), min_size=1, max_size=3), label="replays")
    await fuzzed.each_answered_changing_nothing(batch)



async def test_a_megabyte_message_is_dead_lettered_in_one_kafka_message(fuzzed: Fuzzed) -> None:
    await fuzzed.each_answered_changing_nothing(oversized(COMMANDS[fuzzed.service], MEGABYTE))


@pytest.mark.parametrize("fuzzed", ["onboarding"], indirect=True)
async def test_a_registry_answer_nobody_signed_is_dead_lettered(fuzzed: Fuzzed) -> None:
    # Whoever can write to danbao.registry.results must not pass an applicant's registry check: the
    # answer is signed with the registry callback secret, like the psp, bank and insurer callbacks.
    found = f.envelope("registry.company.found", {"merchant_id": "M-FZ-1", "credit_code": "91350100M000100Y43", "status": "active",
                                                  "registered_name": "杭州小盾牌贸易有限公司", "signature": ""},
                       actor=("system", "anyone"))
    await fuzzed.each_answered_changing_nothing([Bad(topics.REGISTRY_RESULTS, f.encode(found), DEAD, frozenset({"bad_signature"}))])
