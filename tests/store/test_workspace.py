"""The batch workspace (``shared.workspace``) on a real database, SQLite and PostgreSQL: a batch reads each row once,
sees its own changes, drops a failed message's, and writes what is left in one statement per table; and the
consumer runs handlers on it, falling back to direct mode for a handler that needs the session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlmodel import select

from services.payments.config import PaymentsSettings
from services.payments.handlers import PaymentsHandlers, development_account
from services.payments.risk_store import RiskTally, observe, tally
from services.payments.store import TABLES, MerchantMonthVolume, PaymentOrder, seed_merchants
from shared.clock import TestableClock
from shared.consumer import MessageConsumer, Route
from shared.contracts import payments
from shared.contracts.common import dead_letter_contract, rejection_payload
from shared import statements
from shared.db import Database
from shared.messaging import MESSAGING_TABLES
from shared.timers import DurableTimer
from shared.unit_of_work import Rejected
from shared.workspace import Workspace
from tests.store.records import FakeRecord
from tests.factories import create_order, encode, pay_order

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(payments_db: Database) -> Database:
    return payments_db


class Statements:
    """Counts the statements run through ``shared.statements.run``, which every workspace read and write takes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sql: list[str] = []
        original = statements.run

        async def counted(session: Any, statement: Any, params: Any = None, fetch: str | None = None) -> Any:
            self.sql.append(str(statement).split(None, 1)[0].upper() + " " + getattr(getattr(statement, "table", None), "name", ""))
            return await original(session, statement, params, fetch)

        monkeypatch.setattr(statements, "run", counted)


def _volume(merchant: str, amount: int) -> dict[str, Any]:
    return dict(merchant_id=merchant, month="2026-12", paid=amount)


def _timer(timer_id: str, due: datetime) -> dict[str, Any]:
    return dict(timer_id=timer_id, kind="k", aggregate_id=timer_id, due_at=due, fired_at=None, cancelled=False, data="{}")


async def test_a_batch_sees_its_own_changes_and_drops_a_failed_message_s(db: Database) -> None:
    async with db.transaction() as session:
        ws = Workspace(session, batched=True)
        await ws.put(DurableTimer, _timer("t-1", T0))  # message 1 succeeds
        ws.keep()
        await ws.put(DurableTimer, _timer("t-2", T0))  # message 2 fails
        await ws.put(DurableTimer, {**_timer("t-1", T0), "cancelled": True})
        assert (await ws.get(DurableTimer, "t-1")).cancelled is True  # type: ignore[union-attr]
        ws.drop()
        assert (await ws.get(DurableTimer, "t-1")).cancelled is False  # type: ignore[union-attr]
        assert await ws.get(DurableTimer, "t-2") is None
        # nothing reached the database before the batch's end
        assert (await session.exec(select(DurableTimer))).all() == []
        await ws.write()
    async with db.transaction() as session:
        rows = (await session.exec(select(DurableTimer))).all()
    assert [(r.timer_id, r.cancelled) for r in rows] == [("t-1", False)]


async def test_insert_only_columns_keep_what_the_row_was_created_with(db: Database) -> None:
    created = T0
    async with db.transaction() as session:
        ws = Workspace(session, batched=True)
        order = dict(order_id="O-1", merchant_id="M-1001", buyer_id="B-1", items="[]", amount=100, currency="CNY",
                     guaranteed=True, auto_confirm_days=7, status="awaiting_payment", created_at=created, updated_at=created)
        await ws.put(PaymentOrder, order)
        ws.keep()
        await ws.write()
    later = T0 + timedelta(hours=1)
    async with db.transaction() as session:
        ws = Workspace(session, batched=True)
        row = await ws.get(PaymentOrder, "O-1")
        assert row is not None and row.status == "awaiting_payment"
        await ws.put(PaymentOrder, {**row._mapping, "status": "paid", "created_at": later, "updated_at": later})
        ws.keep()
        assert (await ws.get(PaymentOrder, "O-1")).created_at != later  # type: ignore[union-attr]
        await ws.write()
    async with db.transaction() as session:
        stored = (await session.exec(select(PaymentOrder))).one()
    assert stored.status == "paid"
    assert stored.created_at.replace(tzinfo=timezone.utc) == created
    assert stored.updated_at.replace(tzinfo=timezone.utc) == later


async def test_a_batch_reads_a_row_once_and_writes_one_statement_per_table(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Statements(monkeypatch)
    async with db.transaction() as session:
        ws = Workspace(session, batched=True)
        await ws.load(DurableTimer, [f"t-{n}" for n in range(50)])
        for n in range(50):
            assert await ws.get(DurableTimer, f"t-{n}") is None
            await ws.put(DurableTimer, _timer(f"t-{n}", T0))
            await ws.add(MerchantMonthVolume, _volume("M-1", n), add=("paid",))
            ws.keep()
        assert counter.sql == ["SELECT "]  # the 50 timers, one query
        await ws.write()
    assert counter.sql == ["SELECT ", "INSERT durable_timer", "INSERT merchant_month_volume"]  # one statement a table


async def test_counters_add_up_in_the_batch_and_with_what_is_stored(db: Database) -> None:
    async with db.transaction() as session:
        await Workspace(session).add(MerchantMonthVolume, _volume("M-1", 1_000), add=("paid",))
    async with db.transaction() as session:
        ws = Workspace(session, batched=True)
        for amount in (10, 20):
            await ws.add(MerchantMonthVolume, _volume("M-1", amount), add=("paid",))
            ws.keep()
        await ws.add(MerchantMonthVolume, _volume("M-1", 500), add=("paid",))
        assert (await ws.get(MerchantMonthVolume, "M-1", "2026-12")).paid == 1_530  # type: ignore[union-attr]
        ws.drop()
        assert (await ws.get(MerchantMonthVolume, "M-1", "2026-12")).paid == 1_030  # type: ignore[union-attr]
        await ws.add(MerchantMonthVolume, _volume("M-2", 7), add=("paid",))  # a row that is not stored yet
        assert (await ws.get(MerchantMonthVolume, "M-2", "2026-12")).paid == 7  # type: ignore[union-attr]
        ws.keep()
        await ws.write()
        assert (await ws.get(MerchantMonthVolume, "M-1", "2026-12")).paid == 1_030  # type: ignore[union-attr]
    async with db.transaction() as session:
        rows = {r.merchant_id: r.paid for r in (await session.exec(select(MerchantMonthVolume))).all()}
    assert rows == {"M-1": 1_030, "M-2": 7}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=st.lists(st.integers(0, 7200), max_size=8), batch=st.lists(st.integers(0, 7200), min_size=1, max_size=8),
       since=st.integers(0, 7200))
async def test_a_risk_window_counts_the_batch_s_observations_as_if_they_were_written(
        db: Database, stored: list[int], batch: list[int], since: int) -> None:
    key = f"pay:buyer:B-{len(stored)}-{len(batch)}-{since}"
    base = T0 - timedelta(hours=3)
    async with db.transaction() as session:
        for second in stored:
            await observe(Workspace(session), base + timedelta(seconds=second), key, amount=10)
    async with db.transaction() as session:
        ws = Workspace(session, batched=True)
        for second in batch:
            await observe(ws, base + timedelta(seconds=second), key, amount=1)
            ws.keep()
        seen = await tally(ws, key, base + timedelta(seconds=since))
        await ws.write()
        written = await tally(ws, key, base + timedelta(seconds=since))
        session.expunge_all()
    expected = (sum(1 for s in [*stored, *batch] if s >= since),
                sum(10 for s in stored if s >= since) + sum(1 for s in batch if s >= since))
    assert seen == written == expected
    async with db.transaction() as session:
        await session.exec(RiskTally.__table__.delete().where(RiskTally.__table__.c.key == key))  # type: ignore[attr-defined,call-overload]


def _consumer(db: Database, handlers: dict[str, Any]) -> MessageConsumer:
    route = Route(payments.COMMANDS, handlers, inbox="payments")
    return MessageConsumer(
        service="payments", routes={payments.COMMANDS.topic: route}, db=db, clock=TestableClock(allowed=True),
        events=payments.EVENTS, rejection=rejection_payload("payments"), dead_letters=dead_letter_contract("payments"),
        retry_pause=0.01)


async def _orders(db: Database) -> dict[str, str]:
    async with db.transaction() as session:
        return {o.order_id: o.status for o in (await session.exec(select(PaymentOrder))).all()}


async def test_a_failed_message_in_a_batch_leaves_the_others_changes_and_nothing_of_its_own(db: Database) -> None:
    h = PaymentsHandlers(PaymentsSettings())

    async def pay_then_fail(uow: Any, message: Any) -> None:
        await h.pay_order(uow, message)  # its changes are in the workspace …
        if message.data.order_id == "O-2":
            raise Rejected("test", "refused after the order was saved")  # … and dropped with it

    consumer = _consumer(db, {payments.CreateOrder.TYPE: h.create_order, payments.PayOrder.TYPE: pay_then_fail})
    await consumer.consume([FakeRecord(encode(create_order(o)), n, key=o.encode()) for n, o in enumerate(("O-1", "O-2", "O-3"))])
    await consumer.consume([FakeRecord(encode(pay_order(o)), 10 + n, key=o.encode()) for n, o in enumerate(("O-1", "O-2", "O-3"))])
    assert await _orders(db) == {"O-1": "payment_pending", "O-2": "awaiting_payment", "O-3": "payment_pending"}
    async with db.transaction() as session:
        timers = {t.timer_id for t in (await session.exec(select(DurableTimer))).all()}
    assert "provider-timeout:O-1" in timers and "provider-timeout:O-3" in timers
    assert "provider-timeout:O-2" not in timers
    assert consumer.stats.processed == 5 and consumer.stats.rejected == 1


async def test_a_handler_that_needs_the_session_runs_in_direct_mode_after_the_batch_s_changes_are_written(db: Database) -> None:
    h = PaymentsHandlers(PaymentsSettings())
    seen: list[dict[str, str]] = []
    runs: list[bool] = []

    async def direct_pay(uow: Any, message: Any) -> None:
        runs.append(uow.ws.batched)
        session = uow.session  # in a batched run this has the consumer run the handler again, in direct mode
        found = (await session.exec(select(PaymentOrder))).all()
        seen.append({o.order_id: o.status for o in found})
        await h.pay_order(uow, message)

    consumer = _consumer(db, {payments.CreateOrder.TYPE: h.create_order, payments.PayOrder.TYPE: direct_pay})
    records = [FakeRecord(encode(create_order("O-1")), 0, key=b"O-1"), FakeRecord(encode(pay_order("O-1")), 1, key=b"O-1"),
               FakeRecord(encode(create_order("O-2")), 2, key=b"O-2")]
    await consumer.consume(records)
    assert runs == [True, False]
    assert seen == [{"O-1": "awaiting_payment"}]  # the order created earlier in the batch was written first
    assert await _orders(db) == {"O-1": "payment_pending", "O-2": "awaiting_payment"}


async def test_a_risk_window_read_in_a_batched_run_is_read_again_in_direct_mode(db: Database) -> None:
    """The handler that asked for the session runs again in direct mode: what it counts there is written at once,
    and the window it reads includes it (not the sums its batched run read)."""
    key, since = "cancel:merchant:M-DIRECT", T0 - timedelta(hours=1)
    async with db.transaction() as session:
        ws = Workspace(session, batched=True)
        await observe(ws, T0, key)
        assert await tally(ws, key, since) == (1, 0)
        ws.drop()  # NeedsSession: the batched run's changes are dropped …
        await ws.write()
        ws.batched = False  # … and the handler runs again in direct mode
        await observe(ws, T0, key)
        assert await tally(ws, key, since) == (1, 0)
        await observe(ws, T0, key)
        assert await tally(ws, key, since) == (2, 0)
