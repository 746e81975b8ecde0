"""The consumer path and the outbox relay against a real database: SQLite, and PostgreSQL when
DANBAO_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select

from services.payments.config import PaymentsSettings
from services.payments.handlers import PaymentsHandlers, development_account
from services.payments.store import TABLES, PaymentOrder, seed_merchants
from shared.clock import TestableClock
from shared.consumer import MessageConsumer, Route
from shared.contracts import escrow, payments
from shared.contracts.common import dead_letter_contract, rejection_payload
from shared.db import Database
from shared.messaging import MESSAGING_TABLES, InboxMessage, OutboxMessage
from shared.relay import OutboxRelay
from shared.timers import DurableTimer
from shared.unit_of_work import Rejected
from tests.store.records import FakeRecord
from tests.factories import create_order, encode, pay_order


@pytest.fixture
def db(payments_db: Database) -> Database:
    return payments_db


def _consumer(db: Database, handlers: dict[str, Any] | None = None) -> MessageConsumer:
    h = PaymentsHandlers(PaymentsSettings())
    route = Route(payments.COMMANDS, handlers or {
        payments.CreateOrder.TYPE: h.create_order, payments.PayOrder.TYPE: h.pay_order}, inbox="payments")
    return MessageConsumer(
        service="payments", routes={payments.COMMANDS.topic: route}, db=db, clock=TestableClock(allowed=True), events=payments.EVENTS,
        rejection=rejection_payload("payments"), dead_letters=dead_letter_contract("payments"), retry_pause=0.01,
    )


async def _outbox(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def _count(db: Database, model: Any) -> int:
    async with db.transaction() as session:
        return len((await session.exec(select(model))).all())


async def test_other_services_events_of_types_it_does_not_handle_are_skipped_by_their_type_header(db: Database) -> None:
    """On another service's event topic, a record whose ``type`` header names a type the service does
    not handle is skipped before it is decoded; without the header the body decides, as before."""
    topic = "danbao.escrow.events"
    handled: list[str] = []

    async def refunded(uow: Any, message: Any) -> None:
        handled.append(message.type)

    consumer = _consumer(db)
    consumer.routes[topic] = Route(escrow.EVENTS, {escrow.HoldRefunded.TYPE: refunded}, inbox="payments-escrow-events",
                                   ignore_unknown_types=True)
    await consumer.consume([
        FakeRecord(b"not json at all", 0, topic=topic, headers=(("type", b"escrow.ledger.entry_posted"),)),
        FakeRecord(b"not json either", 1, topic=topic),
        FakeRecord(b"{\"type\": \"escrow.something.new\"}", 2, topic=topic, headers=(("type", escrow.HoldRefunded.TYPE.encode()),)),
    ])
    assert consumer.stats.dead_lettered == 1  # only the record without a header: its body is not JSON
    dead = [json.loads(row.payload)["data"] for row in await _outbox(db)]
    assert [d["source_offset"] for d in dead] == [1]
    assert handled == [] and await _count(db, InboxMessage) == 1


async def test_a_redelivered_batch_changes_nothing_twice(db: Database) -> None:
    consumer = _consumer(db)
    batch = [FakeRecord(encode(create_order("O-1")), 0), FakeRecord(encode(pay_order("O-1")), 1)]
    await consumer.consume(batch)
    await consumer.consume(batch)  # the offsets were not committed: Kafka delivers it again
    assert await _count(db, PaymentOrder) == 1
    assert [m.type for m in await _outbox(db)] == [
        "payments.order.created", "payments.intent.created", "psp.charge.requested"]
    assert consumer.stats.duplicates == 2


async def test_every_kind_of_bad_input_is_dead_lettered_once_with_its_reason(db: Database) -> None:
    good = create_order("O-1")
    newer = {**create_order("O-2"), "version": 9}
    unknown = {**create_order("O-3"), "type": "payments.order.teleport"}
    invalid = create_order("O-4")
    invalid["data"]["amount"]["amount"] = -5
    batch = [
        FakeRecord(b"{oops", 0), FakeRecord(b"\xff\xfe\x00", 1), FakeRecord(encode(newer), 2),
        FakeRecord(encode(unknown), 3), FakeRecord(encode(invalid), 4), FakeRecord(None, 5), FakeRecord(encode(good), 6),
    ]
    consumer = _consumer(db)
    await consumer.consume(batch)
    await consumer.consume(batch)
    dead = [json.loads(m.payload)["data"] for m in await _outbox(db) if m.topic == "danbao.payments.dlq"]
    assert [d["reason"] for d in dead] == [
        "malformed_json", "malformed_json", "unsupported_version", "unknown_type", "invalid_payload", "malformed_json"]
    assert dead[1]["original_encoding"] == "base64"
    assert "data.amount.amount" in dead[4]["detail"]
    assert dead[0]["source_offset"] == 0 and dead[0]["source_topic"] == "danbao.payments.commands"
    assert await _count(db, PaymentOrder) == 1  # the good one went through; the bad changed nothing


async def test_a_business_rejection_is_published_and_its_partial_changes_are_undone(db: Database) -> None:
    consumer = _consumer(db)
    await consumer.consume([FakeRecord(encode(create_order("O-1", actor=("merchant", "M-IMPOSTOR"))), 0)])
    (rejection,) = await _outbox(db)
    body = json.loads(rejection.payload)
    assert body["type"] == "payments.command.rejected" and body["data"]["reason"] == "forbidden"
    assert await _count(db, PaymentOrder) == 0


async def test_a_transient_database_error_rolls_back_the_whole_batch_for_a_retry(db: Database) -> None:
    h = PaymentsHandlers(PaymentsSettings())
    calls = {"n": 0}

    async def flaky_pay(uow: Any, message: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("SELECT 1", {}, Exception("connection reset"))
        await h.pay_order(uow, message)

    consumer = _consumer(db, {payments.CreateOrder.TYPE: h.create_order, payments.PayOrder.TYPE: flaky_pay})
    batch = [FakeRecord(encode(create_order("O-1")), 0), FakeRecord(encode(pay_order("O-1")), 1)]
    with pytest.raises(OperationalError):
        await consumer.consume(batch)
    assert await _outbox(db) == [] and await _count(db, InboxMessage) == 0
    await consumer.consume(batch)
    assert len(await _outbox(db)) == 3


async def test_a_handler_bug_dead_letters_that_message_only(db: Database) -> None:
    h = PaymentsHandlers(PaymentsSettings())

    async def buggy_pay(uow: Any, message: Any) -> None:
        raise KeyError("boom")

    consumer = _consumer(db, {payments.CreateOrder.TYPE: h.create_order, payments.PayOrder.TYPE: buggy_pay})
    await consumer.consume([FakeRecord(encode(create_order("O-1")), 0), FakeRecord(encode(pay_order("O-1")), 1)])
    types = [(m.topic, m.type) for m in await _outbox(db)]
    assert types == [("danbao.payments.events", "payments.order.created"), ("danbao.payments.dlq", "deadletter.recorded")]


async def test_what_a_failed_message_wrote_before_failing_is_undone_and_its_batch_neighbours_kept(db: Database) -> None:
    """Each message runs in a savepoint inside the batch's transaction: Core writes and ORM
    objects of a message that is rejected or breaks are undone; the messages around it keep theirs."""
    from services.payments.store import MerchantView

    h = PaymentsHandlers(PaymentsSettings())

    async def pay_then_reject(uow: Any, message: Any) -> None:
        await h.pay_order(uow, message)  # Core writes: the order, its provider timer
        uow.session.add(MerchantView(merchant_id="M-2002", status="active", industry="retail", updated_at=uow.now))
        raise Rejected("not_today", "changed its mind after writing")

    async def create_then_break(uow: Any, message: Any) -> None:
        await h.create_order(uow, message)
        if message.data.order_id == "O-2":
            raise RuntimeError("bug after writing")

    consumer = _consumer(db, {payments.CreateOrder.TYPE: create_then_break, payments.PayOrder.TYPE: pay_then_reject})
    await consumer.consume([FakeRecord(encode(create_order("O-1")), 0), FakeRecord(encode(pay_order("O-1")), 1),
                            FakeRecord(encode(create_order("O-2")), 2, key=b"O-2"), FakeRecord(encode(create_order("O-3")), 3, key=b"O-3")])
    async with db.transaction() as session:
        orders = {o.order_id: o.status for o in (await session.exec(select(PaymentOrder))).all()}
        timers = [t.timer_id for t in (await session.exec(select(DurableTimer))).all()]
        merchants = [m.merchant_id for m in (await session.exec(select(MerchantView))).all()]
    assert orders == {"O-1": "awaiting_payment", "O-3": "awaiting_payment"}  # the payment undone
    assert all("provider" not in t for t in timers) and merchants == ["M-1001"]
    assert [m.type for m in await _outbox(db)] == ["payments.order.created", "payments.command.rejected",
                                                   "deadletter.recorded", "payments.order.created"]


async def test_each_records_delay_is_reported_by_topic_once_its_batch_is_committed(db: Database) -> None:
    seen: list[tuple[str, float]] = []
    consumer = _consumer(db)
    consumer.on_delay = lambda topic, seconds: seen.append((topic, seconds))
    now_ms = int(time.time() * 1000)
    await consumer.consume([FakeRecord(encode(create_order("O-1")), 0, timestamp=now_ms - 1500),
                            FakeRecord(encode(create_order("O-2")), 1, key=b"O-2", timestamp=now_ms - 200)])
    assert [topic for topic, _ in seen] == ["danbao.payments.commands"] * 2
    assert 1.4 < seen[0][1] < 60 and 0.1 < seen[1][1] < seen[0][1]


async def test_the_relay_publishes_in_order_once_and_holds_a_lease(db: Database) -> None:
    consumer = _consumer(db)
    await consumer.consume([FakeRecord(encode(create_order(f"O-{n}")), n) for n in range(5)])
    sent: list[str] = []

    async def publish(row: OutboxMessage) -> None:
        sent.append(json.loads(row.payload)["data"]["order_id"])

    relay = OutboxRelay(db, publish, name="payments", owner="a", batch_size=3)
    other = OutboxRelay(db, publish, name="payments", owner="b")
    assert await relay.relay_once() == 3
    assert await other.relay_once() == 0  # "a" holds the lease
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 0
    assert sent == [f"O-{n}" for n in range(5)]


async def test_a_relay_that_dies_before_marking_republishes_the_batch(db: Database) -> None:
    await _consumer(db).consume([FakeRecord(encode(create_order("O-1")), 0)])
    sent: list[str] = []

    async def publish_then_die(row: OutboxMessage) -> None:
        sent.append(row.event_id)
        raise ConnectionError("broker went away")

    with pytest.raises(ConnectionError):
        await OutboxRelay(db, publish_then_die, name="payments", owner="a").relay_once()

    async def publish(row: OutboxMessage) -> None:
        sent.append(row.event_id)

    assert await OutboxRelay(db, publish, name="payments", owner="a").relay_once() == 1
    assert len(sent) == 2 and sent[0] == sent[1]  # same event id: consumers' inboxes drop the copy


def _keyed(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {**document, "idempotency_key": key}


async def test_a_repeated_idempotency_key_returns_the_first_outcome_and_acts_once(db: Database) -> None:
    consumer = _consumer(db)
    first = _keyed(pay_order("O-1"), "pay-O-1")
    retry = _keyed(pay_order("O-1"), "pay-O-1")  # a client retry: new event id, same key and content
    await consumer.consume([FakeRecord(encode(create_order("O-1")), 0), FakeRecord(encode(first), 1), FakeRecord(encode(retry), 2)])
    rows = await _outbox(db)
    charges = [r for r in rows if r.type == "psp.charge.requested"]
    assert len(charges) == 2 and charges[0].event_id == charges[1].event_id  # the first outcome, published again
    assert not [r for r in rows if r.type == "payments.command.rejected"]
    async with db.transaction() as session:
        order = (await session.exec(select(PaymentOrder))).one()
    assert order.attempts == 1


async def test_an_idempotency_key_reused_for_other_content_is_refused(db: Database) -> None:
    consumer = _consumer(db)
    await consumer.consume([FakeRecord(encode(_keyed(create_order("O-1"), "k-1")), 0),
                            FakeRecord(encode(_keyed(create_order("O-2"), "k-1")), 1)])
    rows = await _outbox(db)
    rejected = [json.loads(r.payload)["data"] for r in rows if r.type == "payments.command.rejected"]
    assert [r["reason"] for r in rejected] == ["idempotency_key_reused"]
    assert await _count(db, PaymentOrder) == 1


async def test_a_buyer_who_cancels_often_is_warned_then_restricted(db: Database) -> None:
    from tests.factories import cancel_order

    h = PaymentsHandlers(PaymentsSettings())
    consumer = _consumer(db, {payments.CreateOrder.TYPE: h.create_order, payments.CancelOrder.TYPE: h.cancel_order})
    batch = []
    for n in range(8):  # defaults: a warning at 5 in 24 h, restricted at 8
        batch += [FakeRecord(encode(create_order(f"O-{n}")), 2 * n, key=f"O-{n}".encode()),
                  FakeRecord(encode(cancel_order(f"O-{n}", "changed_mind", actor=("buyer", "B-2001"))), 2 * n + 1, key=f"O-{n}".encode())]
    batch.append(FakeRecord(encode(create_order("O-after")), 16, key=b"O-after"))
    batch.append(FakeRecord(encode(create_order("O-other", buyer="B-3001")), 17, key=b"O-other"))
    await consumer.consume(batch)
    events = [json.loads(r.payload) for r in await _outbox(db)]
    warnings = [e["data"] for e in events if e["type"] == "payments.buyer.cancellation_warning"]
    restricted = [e["data"] for e in events if e["type"] == "payments.buyer.restricted"]
    assert [w["cancellations"] for w in warnings] == [5] and [r["cancellations"] for r in restricted] == [8]
    rejected = [e["data"] for e in events if e["type"] == "payments.command.rejected"]
    assert [(r["aggregate_id"], r["reason"]) for r in rejected] == [("O-after", "buyer_restricted")]
    assert any(e["type"] == "payments.order.created" and e["data"]["order_id"] == "O-other" for e in events)


async def test_a_database_error_while_a_message_is_flushed_retries_the_batch_instead_of_dead_lettering(db: Database) -> None:
    """The ORM writes a message's objects when its savepoint ends; a database error there is a
    retry of the whole batch, like any other database error."""
    from services.payments.store import MerchantView

    h = PaymentsHandlers(PaymentsSettings())
    calls = {"n": 0}

    async def create_with_a_clash(uow: Any, message: Any) -> None:
        session = uow.session  # a handler on the session itself: run in direct mode, inside a savepoint
        calls["n"] += 1
        await h.create_order(uow, message)
        if calls["n"] == 1:  # a row that is already there: the flush at the savepoint's end fails
            session.add(MerchantView(merchant_id="M-1001", status="active", industry="retail", updated_at=uow.now))

    consumer = _consumer(db, {payments.CreateOrder.TYPE: create_with_a_clash})
    batch = [FakeRecord(encode(create_order("O-1")), 0)]
    with pytest.raises(IntegrityError):
        await consumer.consume(batch)
    assert await _outbox(db) == [] and await _count(db, InboxMessage) == 0 and await _count(db, PaymentOrder) == 0
    await consumer.consume(batch)
    assert [m.type for m in await _outbox(db)] == ["payments.order.created"] and consumer.stats.dead_lettered == 0


async def test_two_replicas_on_one_host_never_both_publish(db: Database) -> None:
    """The lease names the process, not the host: a second replica beside the first waits for it."""
    await _consumer(db).consume([FakeRecord(encode(create_order(f"O-{n}")), n) for n in range(4)])
    sent: list[tuple[str, str]] = []
    first, second = (OutboxRelay(db, lambda row, n=n: _record(sent, n, row), name="payments", batch_size=2) for n in ("1", "2"))
    assert first.owner != second.owner
    assert await first.relay_once() == 2
    assert await second.relay_once() == 0
    assert await first.relay_once() == 2
    assert {replica for replica, _ in sent} == {"1"} and len(sent) == 4


async def _record(sent: list[tuple[str, str]], replica: str, row: OutboxMessage) -> None:
    sent.append((replica, row.event_id))
