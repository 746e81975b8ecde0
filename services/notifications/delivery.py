"""The delivery worker: sends what the handlers recorded, outside any database transaction.

1. Claim (short transaction): open notifications due by the service clock that no worker
   holds are marked held for a lease; their addresses and bodies are decrypted.
2. Send: each through its channel, several at once; no transaction is open.
3. Record (short transaction, per delivery as it finishes): the attempt goes into the
   delivery log, the notification moves on (sent, retry at a backoff, or failed) and its
   events go to the outbox.

A crash between 1 and 3 leaves the claim to expire and the message is sent again: at least
once at the channel, never lost. The Message-ID / Idempotency-Key / Danbao-Delivery-Id each
channel receives is the notification id, so a receiver can drop the rare repeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifications import domain, store
from services.notifications.channels import ChannelAdapter, Outgoing
from services.notifications.domain import AttemptResult, RetryPolicy, State
from services.notifications.store import Notification
from services.notifications.webhooks import host_of
from shared.clock import Clock
from shared.contracts import notifications
from shared.contracts.notifications import Channel, PartyKind
from shared.db import Database
from shared.pii import FieldCipher, UnreadableValue
from shared.timers import as_utc
from shared.unit_of_work import UnitOfWork, write_outbox

log = logging.getLogger("danbao.notifications.delivery")


@dataclass
class Claimed:
    row: Notification
    outgoing: Outgoing | None  # None: nothing to send to any more
    missing: str = ""


class DeliveryWorker:
    def __init__(self, db: Database, clock: Clock, channels: dict[Channel, ChannelAdapter], cipher: FieldCipher,
                 policy: RetryPolicy, *, on_commit: Callable[[], None] = lambda: None, batch_size: int = 100,
                 concurrency: int = 20, lease: timedelta = timedelta(seconds=60), poll_seconds: float = 0.5) -> None:
        self.db = db
        self.clock = clock
        self.channels = channels
        self.cipher = cipher
        self.policy = policy
        self.on_commit = on_commit
        self.batch_size = batch_size
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.attempted = 0
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Keep up to ``concurrency`` deliveries in flight, each recorded as soon as it is done, so
        a slow endpoint holds up only its own delivery."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping:
                asked = min(self.concurrency - len(in_flight), self.batch_size)
                claimed: list[Claimed] = []
                if asked > 0:
                    try:
                        claimed = await self._claim(asked)
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # noqa: BLE001 - the database may be down: try again
                        log.exception("claiming deliveries failed; retrying")
                        await asyncio.sleep(1.0)
                for item in claimed:
                    task = asyncio.create_task(self._deliver(item))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if claimed and len(claimed) == asked and len(in_flight) < self.concurrency:
                    continue  # more may be due, and there is room for them
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waker, *in_flight}, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                self._wake.clear()
        finally:
            for task in in_flight:
                task.cancel()  # their claims lapse and they are sent again

    async def deliver_due(self) -> int:
        """One round, to its end: claim what is due, send and record each. Returns how many were attempted."""
        claimed = await self._claim(self.batch_size)
        await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> None:
        result = await self._attempt(claimed)
        try:
            await self._record([result])
        except Exception:  # noqa: BLE001 - the claim lapses and the message is sent again
            log.exception("recording delivery %s failed", claimed.row.notification_id)
        self.attempted += 1

    async def _claim(self, limit: int) -> list[Claimed]:
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = await store.claim_due(session, now, now + self.lease, limit)
            return [await self._prepare(session, row, now) for row in rows]

    async def _prepare(self, session, row: Notification, now: datetime) -> Claimed:  # type: ignore[no-untyped-def]
        channel = Channel(row.channel)
        secrets: tuple[str, ...] = ()
        try:
            content = json.loads(self.cipher.decrypt(row.content_enc or "", Notification.context(row.notification_id)))
            if channel is Channel.WEBHOOK:
                endpoint = await store.load_webhook(session, row.recipient_id)
                if endpoint is None:
                    return Claimed(row, None, "no webhook registered")
                context = store.WebhookEndpoint.context(row.recipient_id)
                secrets = (self.cipher.decrypt(endpoint.secret_enc, context),)
                if endpoint.previous_secret_enc and endpoint.previous_secret_until and as_utc(endpoint.previous_secret_until) > now:
                    secrets += (self.cipher.decrypt(endpoint.previous_secret_enc, context),)
                address, shown = endpoint.url, host_of(endpoint.url)
            else:
                contact = await store.load_contact(session, PartyKind(row.recipient), row.recipient_id)
                name = {Channel.SMS: "phone", Channel.EMAIL: "email", Channel.PUSH: "push_token"}[channel]
                stored = getattr(contact, f"{name}_enc", None) if contact else None
                if contact is None or not stored:
                    return Claimed(row, None, f"no {name} on file")
                address = self.cipher.decrypt(stored, store.Contact.context(row.recipient, row.recipient_id, name))
                shown = {Channel.SMS: contact.phone_masked, Channel.EMAIL: contact.email_masked, Channel.PUSH: contact.push_masked}[channel] or "****"
        except UnreadableValue:
            return Claimed(row, None, "stored message or address unreadable with the current keys")
        row.to_masked = shown
        return Claimed(row, Outgoing(row.notification_id, channel, row.source_event_id, row.source_type, address, content, secrets))

    async def _attempt(self, claimed: Claimed) -> tuple[Claimed, datetime, AttemptResult, int]:
        started, clock_start = self.clock.now(), time.monotonic()
        if claimed.outgoing is None:
            result = AttemptResult(False, claimed.missing, permanent=True, reason="no_address")
        else:
            async with self._limit:
                try:
                    result = await self.channels[claimed.outgoing.channel].send(claimed.outgoing)
                except Exception as exc:  # noqa: BLE001 - any failure to reach the channel is retried
                    result = AttemptResult(False, f"{type(exc).__name__}" + (" (timed out)" if "Timeout" in type(exc).__name__ else ""))
        return claimed, started, result, int((time.monotonic() - clock_start) * 1000)

    async def _record(self, results: list[tuple[Claimed, datetime, AttemptResult, int]]) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows: list[dict[str, object]] = []
            for claimed, started, result, duration in results:
                row = await session.get(Notification, claimed.row.notification_id)
                if row is None or row.state not in (State.PENDING.value, State.RETRYING.value):
                    continue  # another worker finished it after our claim lapsed
                uow = UnitOfWork(session, "notifications", now, correlation_id=row.correlation_id)
                self._apply(uow, row, claimed, started, result, duration, now)
                rows += uow.outbox_rows
            await write_outbox(session, rows)  # type: ignore[arg-type]
        self.on_commit()

    def _apply(self, uow: UnitOfWork, row: Notification, claimed: Claimed, started: datetime, result: AttemptResult,
               duration: int, now: datetime) -> None:
        row.attempts += 1
        row.first_attempt_at = row.first_attempt_at or started
        transition = domain.after_attempt(row.attempts, as_utc(row.first_attempt_at), result, now, self.policy)
        row.state, row.next_attempt_at, row.claimed_until = transition.state.value, transition.next_attempt_at, None
        row.to_masked, row.last_detail, row.updated_at = claimed.row.to_masked, result.detail[:300], now
        if transition.state is State.SENT:
            row.sent_at = now
        if transition.reason:
            row.failure_reason = result.reason if transition.reason == "rejected" and result.reason else transition.reason
        uow.session.add(row)
        outcome = {State.SENT: "sent", State.RETRYING: "retrying", State.FAILED: "failed"}[transition.state]
        uow.session.add(store.DeliveryAttempt(notification_id=row.notification_id, attempt=row.attempts, at=started, outcome=outcome,
                                              status_code=result.status_code, detail=result.detail[:300], duration_ms=duration))
        log.info("notification %s (%s to %s %s via %s) attempt %d: %s", row.notification_id, row.template, row.recipient,
                 row.recipient_id, row.channel, row.attempts, outcome, extra={"fields": {"correlation_id": row.correlation_id}})
        if row.channel == Channel.WEBHOOK.value:
            uow.emit(notifications.EVENTS, row.recipient_id, notifications.WebhookDeliveryAttempted(
                notification_id=row.notification_id, merchant_id=row.recipient_id, source_event_id=row.source_event_id,
                attempt=row.attempts, status_code=result.status_code, outcome="delivered" if outcome == "sent" else outcome,
                detail=result.detail[:300], next_attempt_at=transition.next_attempt_at))
        fields = dict(notification_id=row.notification_id, source_event_id=row.source_event_id, source_type=row.source_type,
                      recipient=PartyKind(row.recipient), recipient_id=row.recipient_id, channel=Channel(row.channel),
                      template=row.template, language=row.language, to_masked=row.to_masked or "****", attempts=row.attempts)
        if transition.state is State.SENT:
            uow.emit(notifications.EVENTS, row.recipient_id, notifications.NotificationSent(**fields))
        elif transition.state is State.FAILED:
            uow.emit(notifications.EVENTS, row.recipient_id, notifications.NotificationFailed(
                **fields, reason=row.failure_reason or "rejected", detail=result.detail[:300]))
