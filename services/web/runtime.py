"""The web edge's process: the platform's consumer path feeding its read models, its outbox relay publishing
the commands people send, and the pages (Starlette) with the health endpoints every process serves.

Like a service it consumes in batches, one transaction per batch (inbox + read models), and commits offsets
only after it; unlike one it has no commands or events topic: it reads the services' events and writes signed
commands (and its own dead letters)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from shared.authority import DEV_ROSTER
from shared.clock import SystemClock
from shared.consumer import MessageConsumer, Route
from shared.contracts.catalog import TopicContract
from shared.contracts.common import dead_letter_contract, rejection_payload
from shared.db import Database, sqlite_file_url
from shared.health import ConsumerHealth
from shared.kafka_security import faststream_security
from shared.polling import prompt
from shared.migrations import SchemaRefused
from shared.migrations.gate import SchemaGate
from shared.migrations.runner import one_instance_at_a_time
from shared.relay import OutboxRelay, outbox_backlog
from shared.retention import Retention
from shared.runtime import Subscription, started_producer
from shared.service_http import WAITING_FOR_UPGRADE, schema_state
from shared.settings import Mode, PlatformSettings
from services.web.config import WebSettings
from services.web.migrations import SCHEMA
from services.web.store import MerchantView, StaffRole

log = logging.getLogger("danbao.web")
NAME = "web"


async def _raw_records(message: Any) -> Any:
    """The raw Kafka records: decoding is the consumer path's job (a coroutine, so no worker thread)."""
    return message.raw_message


class EdgeRuntime:
    def __init__(self, settings: WebSettings, subscriptions: Sequence[Subscription], writes: Sequence[TopicContract],
                 platform: PlatformSettings | None = None) -> None:
        self.settings = settings
        self.platform = platform or PlatformSettings()
        self.registry = CollectorRegistry()
        self.broker = KafkaBroker(
            self.platform.kafka_bootstrap, client_id=f"danbao-{NAME}", security=faststream_security(self.platform),
            middlewares=[KafkaPrometheusMiddleware(registry=self.registry, app_name=f"danbao_{NAME}")],
            request_timeout_ms=10_000, logger=logging.getLogger(f"faststream.{NAME}"), log_level=logging.DEBUG)
        self.db = Database(settings.database_url or sqlite_file_url(self.platform.data_dir, NAME))
        self.schema_gate = SchemaGate(self.db, SCHEMA, upgrade=self.platform.upgrades_db_at_start,
                                      poll_seconds=self.platform.db_wait_poll_seconds)
        self.clock = SystemClock()
        self.relay = OutboxRelay(self.db, self._publish, name=NAME)
        self.retention = Retention(self.db, self.clock, inbox=timedelta(days=self.platform.inbox_retention_days),
                                   idempotency=timedelta(days=self.platform.idempotency_retention_days))
        self._producer: AIOKafkaProducer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._published = Counter("danbao_outbox_published", "Commands and dead letters the relay handed to Kafka, per topic",
                                  ["topic"], registry=self.registry)
        self._backlog = Gauge("danbao_outbox_backlog", "Outbox rows not yet published", registry=self.registry)
        self.pid = os.getpid()
        self.phase = "waiting for the broker"  # then running
        self.consumer_health = health = ConsumerHealth(f"danbao-{NAME}", self.registry, self.platform.stall_seconds)
        routes = {sub.contract.topic: Route(sub.contract, sub.handlers, f"{NAME}-{sub.group_suffix}", ignore_unknown_types=True)
                  for sub in subscriptions}
        dead_letters = dead_letter_contract(NAME)
        # No command topic: nothing is ever rejected, so the rejection contract is never used; unreadable events
        # are dead-lettered to danbao.web.dlq.
        self.consumer = MessageConsumer(
            service=NAME, routes=routes, db=self.db, clock=self.clock, events=dead_letters,
            rejection=rejection_payload(NAME), dead_letters=dead_letters, on_commit=self.relay.wake)
        consumer = self.consumer

        async def handle(records: Any) -> None:  # the raw records (see ``shared.runtime``: no Context, no thread hop)
            try:
                await consumer.consume(records)
            except Exception as exc:
                health.batch_failed(exc)  # the batch is delivered again
                raise
            health.batch_handled(records)

        self.subscriber = self.broker.subscriber(
            *routes, group_id=f"danbao-{NAME}", batch=True, max_records=settings.batch_size,
            batch_timeout_ms=self.platform.poll_wait_ms,
            fetch_max_wait_ms=settings.fetch_max_wait_ms or self.platform.fetch_max_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest", decoder=_raw_records,
            title=f"danbao-{NAME}", description="The services' events, into the web edge's read models.")
        prompt(self.subscriber)  # no pause after an empty poll (shared.polling)
        self.subscriber(handle)
        for contract in [*writes, dead_letters]:
            # Declared for the broker's ACLs (ops.acl); the outbox relay does the publishing.
            self.broker.publisher(contract.topic, title=f"{contract.topic}:{NAME}", description=contract.description)

    async def _publish(self, row: Any) -> Any:
        self._published.labels(row.topic).inc()
        key = row.key.encode() if row.key else None
        headers = [(k, v.encode()) for k, v in json.loads(row.headers).items()] or None
        assert self._producer is not None
        return await self._producer.send(row.topic, row.payload, key=key, headers=headers)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Behind /health/live (shared/serving.py): the broker reached, then the database. On one behind its code the
        edge waits, not ready with the reason, and goes on once it is upgraded (shared/migrations/gate.py)."""
        probe = await started_producer(self.platform.kafka_bootstrap, f"danbao-{NAME}-probe",
                                       self.platform.broker_wait_seconds, self.platform)
        await probe.stop()
        self.phase = "preparing the database"
        if not await self.schema_gate.open():
            self.phase = WAITING_FOR_UPGRADE
            await self.schema_gate.wait()
            self.phase = "preparing the database"
        await self.seed()
        await self.broker.start()
        self._producer = await started_producer(
            self.platform.kafka_bootstrap, f"danbao-{NAME}-relay", self.platform.broker_wait_seconds, self.platform,
            acks="all", linger_ms=2, request_timeout_ms=10_000, enable_idempotence=False)
        self._tasks = [asyncio.create_task(self.relay.run(), name=f"{NAME}-relay"),
                       asyncio.create_task(self.retention.run(), name=f"{NAME}-retention"),
                       asyncio.create_task(self.consumer_health.watch(lambda: self.subscriber.consumer,
                                                                      self.platform.lag_refresh_seconds), name=f"{NAME}-lag")]
        self.consumer_health.started()
        self.phase = "running"

    async def start_storage(self) -> None:
        """Schema and seeds, for the pages served over the database alone (handler tests): a refusal raises."""
        if not await self.schema_gate.open():
            raise SchemaRefused(self.schema_gate.problem or "")
        await self.seed()

    async def seed(self) -> None:
        """Dev and test mode: the development staff and the development merchants' names (one instance at a time)."""
        if self.platform.mode is Mode.PRODUCTION:
            return
        async with one_instance_at_a_time(self.db, SCHEMA), self.db.transaction() as session:
            for principal, roles in DEV_ROSTER.items():
                for role in roles:
                    if await session.get(StaffRole, (principal, role)) is None:
                        session.add(StaffRole(principal_id=principal, role=role))
            for merchant_id, name in self.settings.merchant_names().items():
                merchant = await session.get(MerchantView, merchant_id) or MerchantView(merchant_id=merchant_id, status="active")
                merchant.name = merchant.name or name
                session.add(merchant)

    async def stop(self) -> None:
        self.relay.stop()
        self.retention.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.broker.stop()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self.db.dispose()

    @property
    def background_running(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    # -- health ---------------------------------------------------------------------------------

    def health_routes(self) -> list[HttpRoute]:
        async def live(request: Request) -> Response:
            return JSONResponse({"status": "live", "service": NAME, "pid": self.pid})

        async def ready(request: Request) -> Response:
            """As a service's (shared/service_http.py): 503 with every reason while it is not ready."""
            reasons = [] if self.phase == "running" else [f"starting: {self.phase}"]
            database = await self.db.ping()
            try:
                broker = bool(await self.broker.ping(timeout=2.0))
            except Exception:  # noqa: BLE001 - not connected yet
                broker = False
            reasons += [what for what, ok in (("database unreachable", database), ("broker unreachable", broker)) if not ok]
            if self.phase == "running" and not self.background_running:
                reasons.append("outbox relay stopped")
            reasons += self.consumer_health.problems()
            schema = schema_state(self.schema_gate.problem, self.phase == WAITING_FOR_UPGRADE)
            if schema == "refused":
                reasons.append(self.schema_gate.problem)  # why, and what to run (shared/migrations/gate.py)
            return JSONResponse({"status": "not ready" if reasons else "ready", "service": NAME, "pid": self.pid,
                                 "reasons": reasons, "database": database, "schema": schema, "broker": broker,
                                 "relay": self.background_running, "consumer": self.consumer_health.summary()},
                                status_code=503 if reasons else 200)

        async def metrics(request: Request) -> Response:
            try:
                self._backlog.set(await outbox_backlog(self.db))
            except Exception:  # noqa: BLE001 - a scrape never fails on one gauge
                log.exception("gauge probe failed")
            return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4")

        return [HttpRoute("/health/live", live), HttpRoute("/health/ready", ready), HttpRoute("/metrics", metrics)]
