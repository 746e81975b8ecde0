"""Commands that wait for another service's event, against a real database (SQLite, and PostgreSQL
when DANBAO_TEST_POSTGRES_URL is set): parked once however often they are delivered, handled
again when woken, rejected when their time runs out, sealed when their topic carries personal data."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from services.payments.config import PaymentsSettings
from services.payments.handlers import PaymentsHandlers
from services.payments.store import TABLES, PaymentOrder
from shared.clock import TestableClock
from shared.consumer import PARKED_TIMER, MessageConsumer, Route, parked_messages
from shared.contracts import onboarding, payments
from shared.contracts.common import dead_letter_contract, rejection_payload
from shared.db import Database
from shared.messaging import MESSAGING_TABLES, IdempotencyRecord, InboxMessage, OutboxMessage, ParkedMessage
from shared.pii import FieldCipher
from shared.timers import DurableTimer, TimerScheduler
from tests.factories import create_order, encode, envelope
from tests.store.records import FakeRecord

ONBOARDING_EVENTS = onboarding.EVENTS.topic


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables([*MESSAGING_TABLES, DurableTimer, *TABLES])
    yield database
    await database.dispose()


def _consumer(db: Database, clock: TestableClock, sealed_by: FieldCipher | None = None) -> MessageConsumer:
    h = PaymentsHandlers(PaymentsSettings())
    routes = {
        payments.COMMANDS.topic: Route(payments.COMMANDS, {payments.CreateOrder.TYPE: h.create_order}, "payments",
                                       sealed_by=sealed_by),
        ONBOARDING_EVENTS: Route(onboarding.EVENTS, {onboarding.MerchantActivated.TYPE: h.merchant_activated},
                                 "payments-onboarding", ignore_unknown_types=True),
    }
    return MessageConsumer(
        service="payments", routes=routes, db=db, clock=clock, events=payments.EVENTS,
        rejection=rejection_payload("payments"), dead_letters=dead_letter_contract("payments"),
        park_for=timedelta(seconds=60))


def _activated(merchant: str, offset: int) -> FakeRecord:
    document = envelope("onboarding.merchant.activated", {"merchant_id": merchant, "industry": "food", "verified": True},
                        actor=("system", "onboarding"))
    return FakeRecord(encode(document), offset, topic=ONBOARDING_EVENTS, key=merchant.encode())


async def _types(db: Database) -> list[str]:
    async with db.transaction() as session:
        return [m.type for m in (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()]


async def _rows(db: Database, model: type) -> list:  # type: ignore[type-arg]
    async with db.transaction() as session:
        return list((await session.exec(select(model))).all())


async def test_a_parked_command_is_kept_once_and_handled_when_woken(db: Database) -> None:
    clock = TestableClock(allowed=True)
    consumer = _consumer(db, clock)
    order = FakeRecord(encode({**create_order("O-1", merchant="M-NEW"), "idempotency_key": "k-O-1"}), 0)
    await consumer.consume([order])
    await consumer.consume([order])  # delivered again (offsets not committed): still one parked copy
    assert await _types(db) == [] and await parked_messages(db) == 1
    (parked,) = await _rows(db, ParkedMessage)
    assert parked.waits_for == "merchant:M-NEW" and parked.consumer == "payments" and bytes(parked.value) == order.value
    assert await _rows(db, IdempotencyRecord) == []  # no outcome yet to repeat
    (inbox,) = await _rows(db, InboxMessage)
    assert inbox.outcome == "parked"
    (timer,) = await _rows(db, DurableTimer)
    assert timer.kind == PARKED_TIMER and not timer.cancelled

    await consumer.consume([_activated("M-NEW", 0)])
    assert await _types(db) == ["payments.order.created"]
    assert len(await _rows(db, PaymentOrder)) == 1 and await parked_messages(db) == 0
    assert [r.key for r in await _rows(db, IdempotencyRecord)] == ["k-O-1"]
    assert [bool(t.cancelled) for t in await _rows(db, DurableTimer) if t.kind == PARKED_TIMER] == [True]
    assert [i.outcome for i in await _rows(db, InboxMessage) if i.consumer == "payments"] == ["processed"]
    assert consumer.stats.parked == 1 and consumer.stats.woken == 1

    clock.advance(120)  # the cancelled timer does not fire
    scheduler = TimerScheduler(db, clock, "payments", {PARKED_TIMER: consumer.expire})
    assert await scheduler.fire_due() == 0
    assert await _types(db) == ["payments.order.created"]


async def test_a_command_woken_in_the_same_batch_runs_after_the_event_that_woke_it(db: Database) -> None:
    consumer = _consumer(db, TestableClock(allowed=True))
    await consumer.consume([FakeRecord(encode(create_order("O-2", merchant="M-NEW")), 0), _activated("M-NEW", 0)])
    assert await _types(db) == ["payments.order.created"] and await parked_messages(db) == 0
    assert {i.consumer: i.outcome for i in await _rows(db, InboxMessage)} == {"payments": "processed",
                                                                             "payments-onboarding": "processed"}


async def test_when_its_time_runs_out_a_waiting_command_is_rejected_once(db: Database) -> None:
    clock = TestableClock(allowed=True)
    consumer = _consumer(db, clock)
    command = create_order("O-3", merchant="M-NEVER")
    await consumer.consume([FakeRecord(encode(command), 0)])
    scheduler = TimerScheduler(db, clock, "payments", {PARKED_TIMER: consumer.expire})
    clock.advance(59)
    assert await scheduler.fire_due() == 0
    clock.advance(2)
    assert await scheduler.fire_due() == 1
    assert await scheduler.fire_due() == 0
    async with db.transaction() as session:
        (rejection,) = (await session.exec(select(OutboxMessage))).all()
    body = json.loads(rejection.payload)
    assert body["type"] == "payments.command.rejected" and body["data"]["reason"] == "merchant_not_active"
    assert body["data"]["command_event_id"] == command["event_id"] == body["causation_id"]
    assert body["correlation_id"] == command["correlation_id"] and rejection.key == "O-3"
    assert await parked_messages(db) == 0
    assert [i.outcome for i in await _rows(db, InboxMessage)] == ["rejected"]
    await consumer.consume([_activated("M-NEVER", 0)])  # too late: nothing is waiting any more
    assert await _types(db) == ["payments.command.rejected"]


async def test_a_command_from_a_topic_with_personal_data_is_parked_sealed(db: Database) -> None:
    clock = TestableClock(allowed=True)
    cipher = FieldCipher({"k1": os.urandom(32)}, "k1")
    consumer = _consumer(db, clock, sealed_by=cipher)
    command = create_order("O-4", merchant="M-NEW")
    await consumer.consume([FakeRecord(encode(command), 0)])
    (parked,) = await _rows(db, ParkedMessage)
    assert parked.sealed and b"O-4" not in bytes(parked.value)
    await consumer.consume([_activated("M-NEW", 0)])
    assert await _types(db) == ["payments.order.created"]


def test_parking_time_is_a_setting() -> None:
    from shared.settings import PlatformSettings

    assert PlatformSettings().park_seconds == 60
    assert PlatformSettings(park_seconds=0).park_seconds == 0
