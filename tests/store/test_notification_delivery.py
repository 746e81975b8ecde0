"""The delivery worker against a real database (SQLite, and PostgreSQL when configured):
each attempt logged, backoff on the injected clock, give-up at the horizon, claims that lapse
after a crash, and the outcome events in the outbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from services.notifications import store
from services.notifications.channels import Outgoing
from services.notifications.config import NotificationsSettings
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain import AttemptResult, RetryPolicy
from services.notifications.store import Contact, DeliveryAttempt, Notification, WebhookEndpoint
from shared.clock import FixedClock
from shared.contracts.notifications import Channel
from shared.db import Database
from shared.messaging import MESSAGING_TABLES, OutboxMessage
from shared.timers import as_utc

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
POLICY = RetryPolicy(base_seconds=30, factor=2, max_delay_seconds=3600, horizon_seconds=300)
CIPHER = NotificationsSettings().cipher()


class ScriptedChannel:
    """Answers each send with the next scripted result, and remembers what it was given."""

    def __init__(self, *results: AttemptResult) -> None:
        self.results = list(results)
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> AttemptResult:
        self.sent.append(message)
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]


OK, DOWN = AttemptResult(True, "HTTP 200", status_code=200), AttemptResult(False, "HTTP 500", status_code=500)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables([*MESSAGING_TABLES, *store.TABLES])
    async with database.transaction() as session:
        session.add(Contact(party="buyer", party_id="B-1", phone_enc=CIPHER.encrypt("13812345678", Contact.context("buyer", "B-1", "phone")),
                            phone_masked="138****5678", created_at=T0, updated_at=T0))
        context = WebhookEndpoint.context("M-1")
        session.add(WebhookEndpoint(merchant_id="M-1", url="https://shop.example.com/hook", secret_enc=CIPHER.encrypt("new-secret", context),
                                    secret_id="n", previous_secret_enc=CIPHER.encrypt("old-secret", context), previous_secret_id="o",
                                    previous_secret_until=T0 + timedelta(hours=1), created_at=T0, updated_at=T0))
    yield database
    await database.dispose()


async def _add(db: Database, notification_id: str, channel: Channel, recipient: str, recipient_id: str) -> None:
    content = {"body": '{"type": "payments.order.created"}'} if channel is Channel.WEBHOOK else {"text": "【担保】hello"}
    async with db.transaction() as session:
        session.add(Notification(
            notification_id=notification_id, source_event_id="e-1", source_type="payments.order.created", correlation_id="flow-1",
            recipient=recipient, recipient_id=recipient_id, channel=channel.value, template="t", language="zh-CN",
            category="transactional", state="pending", next_attempt_at=T0, created_at=T0, updated_at=T0,
            content_enc=CIPHER.encrypt(json.dumps(content), Notification.context(notification_id))))


def _worker(db: Database, clock: FixedClock, channel: Channel, adapter: ScriptedChannel) -> DeliveryWorker:
    return DeliveryWorker(db, clock, {channel: adapter}, CIPHER, POLICY, lease=timedelta(seconds=60))


async def _state(db: Database, notification_id: str) -> tuple[Notification, list[DeliveryAttempt], list[dict]]:  # type: ignore[type-arg]
    async with db.transaction() as session:
        row = await session.get(Notification, notification_id)
        attempts = list((await session.exec(select(DeliveryAttempt).order_by(DeliveryAttempt.attempt))).all())
        outbox = [json.loads(m.payload) for m in (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()]
    assert row is not None
    return row, attempts, outbox


async def test_a_webhook_failing_twice_is_retried_with_backoff_and_every_attempt_logged(db: Database) -> None:
    await _add(db, "N-1", Channel.WEBHOOK, "merchant", "M-1")
    clock = FixedClock(T0)
    channel = ScriptedChannel(DOWN, DOWN, OK)
    worker = _worker(db, clock, Channel.WEBHOOK, channel)
    assert await worker.deliver_due() == 1
    row, _, _ = await _state(db, "N-1")
    assert row.state == "retrying" and as_utc(row.next_attempt_at) == T0 + timedelta(seconds=30)  # type: ignore[arg-type]
    assert await worker.deliver_due() == 0  # not due yet
    clock.advance(30)
    assert await worker.deliver_due() == 1
    row, _, _ = await _state(db, "N-1")
    assert as_utc(row.next_attempt_at) == T0 + timedelta(seconds=30 + 60)  # type: ignore[arg-type]
    clock.advance(60)
    assert await worker.deliver_due() == 1
    row, attempts, outbox = await _state(db, "N-1")
    assert (row.state, row.attempts, row.to_masked) == ("sent", 3, "shop.example.com")
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts] == [(1, "retrying", 500), (2, "retrying", 500), (3, "sent", 200)]
    assert [(m["type"], m["data"].get("outcome")) for m in outbox] == [
        ("notifications.webhook.attempted", "retrying"), ("notifications.webhook.attempted", "retrying"),
        ("notifications.webhook.attempted", "delivered"), ("notifications.notification.sent", None)]
    assert outbox[-1]["correlation_id"] == "flow-1" and outbox[-1]["data"]["attempts"] == 3
    # within the rotation overlap both secrets sign; the body is the event's JSON
    assert channel.sent[0].secrets == ("new-secret", "old-secret") and channel.sent[0].address == "https://shop.example.com/hook"


async def test_past_the_horizon_it_is_given_up_with_a_failed_event(db: Database) -> None:
    await _add(db, "N-2", Channel.SMS, "buyer", "B-1")
    clock = FixedClock(T0)
    worker = _worker(db, clock, Channel.SMS, ScriptedChannel(AttemptResult(False, "ConnectError")))
    tried_at = []
    for _ in range(10):
        if await worker.deliver_due():
            tried_at.append((clock.now() - T0).total_seconds())
        row, _, _ = await _state(db, "N-2")
        if row.next_attempt_at is None:
            break
        clock.at = as_utc(row.next_attempt_at)
    row, attempts, outbox = await _state(db, "N-2")
    # retries after 30 s, 60 s, 120 s fit in 300 s; the next (240 s after the 4th, at 450 s) would not
    assert tried_at == [0, 30, 90, 210]
    assert (row.state, row.failure_reason, row.attempts) == ("failed", "horizon_passed", 4)
    assert [a.outcome for a in attempts] == ["retrying", "retrying", "retrying", "failed"]
    assert [m["type"] for m in outbox] == ["notifications.notification.failed"]
    assert (outbox[0]["data"]["reason"], outbox[0]["data"]["to_masked"], outbox[0]["data"]["channel"]) == ("horizon_passed", "138****5678", "sms")


async def test_a_permanent_refusal_or_a_missing_address_fails_at_once(db: Database) -> None:
    await _add(db, "N-3", Channel.SMS, "buyer", "B-1")
    await _add(db, "N-4", Channel.EMAIL, "buyer", "B-1")  # no e-mail on file
    clock = FixedClock(T0)
    refused = AttemptResult(False, "HTTP 400", permanent=True, status_code=400)
    worker = DeliveryWorker(db, clock, {Channel.SMS: ScriptedChannel(refused), Channel.EMAIL: ScriptedChannel(OK)}, CIPHER, POLICY)
    assert await worker.deliver_due() == 2
    sms, _, outbox = await _state(db, "N-3")
    email, _, _ = await _state(db, "N-4")
    assert (sms.state, sms.failure_reason, email.state, email.failure_reason) == ("failed", "rejected", "failed", "no_address")
    assert sorted(m["data"]["reason"] for m in outbox) == ["no_address", "rejected"]


async def test_a_claim_held_by_a_crashed_worker_lapses_and_the_message_is_sent_once_more(db: Database) -> None:
    await _add(db, "N-5", Channel.SMS, "buyer", "B-1")
    clock = FixedClock(T0)
    async with db.transaction() as session:  # a worker claims it, then dies before recording anything
        assert len(await store.claim_due(session, T0, T0 + timedelta(seconds=60), 10)) == 1
    channel = ScriptedChannel(OK)
    worker = _worker(db, clock, Channel.SMS, channel)
    assert await worker.deliver_due() == 0  # held
    clock.advance(61)
    assert await worker.deliver_due() == 1
    row, attempts, _ = await _state(db, "N-5")
    assert row.state == "sent" and len(attempts) == 1 and channel.sent[0].address == "13812345678"
    assert await worker.deliver_due() == 0


async def test_a_slow_endpoint_holds_up_only_its_own_delivery(db: Database) -> None:
    import asyncio

    await _add(db, "N-6", Channel.WEBHOOK, "merchant", "M-1")
    await _add(db, "N-7", Channel.SMS, "buyer", "B-1")
    release = asyncio.Event()

    class Slow(ScriptedChannel):
        async def send(self, message: Outgoing) -> AttemptResult:
            await release.wait()
            return await super().send(message)

    worker = DeliveryWorker(db, FixedClock(T0), {Channel.WEBHOOK: Slow(OK), Channel.SMS: ScriptedChannel(OK)}, CIPHER, POLICY,
                            poll_seconds=0.05)
    running = asyncio.create_task(worker.run())
    try:
        for _ in range(100):
            sms, _, _ = await _state(db, "N-7")
            if sms.state == "sent":
                break
            await asyncio.sleep(0.05)
        webhook, _, _ = await _state(db, "N-6")
        assert (sms.state, webhook.state) == ("sent", "pending")  # the webhook is still being sent
        release.set()
        for _ in range(100):
            webhook, _, _ = await _state(db, "N-6")
            if webhook.state == "sent":
                break
            await asyncio.sleep(0.05)
        assert webhook.state == "sent" and worker.attempted == 2
    finally:
        worker.stop()
        await asyncio.wait_for(running, 5)


async def test_after_a_key_rotation_every_encrypted_column_is_reencrypted_and_still_delivers(db: Database) -> None:
    import base64

    from shared.pii import FieldCipher
    from shared.pii_store import key_counts, reencrypt

    await _add(db, "N-8", Channel.SMS, "buyer", "B-1")
    rotated = FieldCipher.from_spec("k2:" + base64.b64encode(b"\x07" * 32).decode() + "," + NotificationsSettings().pii_keys)
    report = await reencrypt(db, store.ENCRYPTED_COLUMNS, rotated)
    assert report.unreadable == [] and report.total == 4  # the phone, both webhook secrets, the queued message
    counts = await key_counts(db, store.ENCRYPTED_COLUMNS, rotated)
    assert all(set(+by_key) <= {"k2"} for by_key in counts.values())
    channel = ScriptedChannel(OK)
    assert await DeliveryWorker(db, FixedClock(T0), {Channel.SMS: channel}, rotated, POLICY).deliver_due() == 1
    assert channel.sent[0].address == "13812345678" and channel.sent[0].content == {"text": "【担保】hello"}
