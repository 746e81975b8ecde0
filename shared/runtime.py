"""A service's process: broker, subscribers, outbox relay, test clock and the ASGI health app.

Each service's ``app.py`` describes what it consumes; this module wires the rest the same way
for all five, so every subscriber has an explicit group id, consumes in batches, and commits
offsets only after its unit of work.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
from datetime import datetime, timedelta, timezone
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import WithJsonSchema, TypeAdapter

from shared import business_days, logs, serving, topics
from shared.authority import Authority, seed_development_roster
from shared.control import control_handlers
from shared.clock import TestableClock
from shared.consumer import PARKED_TIMER, Handler, MessageConsumer, Route, parked_messages
from shared.contracts import control
from shared.contracts.catalog import TopicContract
from shared.contracts.common import dead_letter_contract, rejection_payload
from shared.db import Database, sqlite_file_url
from shared.envelope import Envelope
from shared.health import ConsumerHealth
from shared.kafka_security import aiokafka_options, faststream_security
from shared.messaging import ClockState
from shared.migrations import SchemaRefused, ServiceSchema
from shared.migrations.gate import SchemaGate
from shared.migrations.runner import one_instance_at_a_time
from shared.pii import FieldCipher
from shared.polling import prompt
from shared.relay import OutboxRelay, outbox_backlog
from shared import tracing
from shared.asyncapi import refine
from shared.retention import Horizon, Retention
from shared.service_http import WAITING_FOR_UPGRADE, dead_letters, service_asgi
from shared.timers import TimerHandler, TimerScheduler
from shared.settings import Mode, PlatformSettings, ServiceSettings
from shared.unit_of_work import UnitOfWork

log = logging.getLogger("danbao.runtime")


@dataclass
class Subscription:
    """One topic a service consumes, and the handler for each message type on it."""

    contract: TopicContract
    handlers: dict[str, Handler]
    group_suffix: str = ""  # names the topic's inbox: <service>-<suffix>
    ignore_unknown_types: bool = False  # True for other services' event topics, which grow additively
    personal_data: bool = False  # its messages carry personal data: dead letters are sealed with the service's PII key


@dataclass
class ServiceDefinition:
    name: str
    default_port: int
    events: TopicContract
    schema: ServiceSchema  # its tables and their migrations (services/<name>/migrations)
    subscriptions: Sequence[Subscription] = ()
    timers: dict[str, TimerHandler] = field(default_factory=dict)
    publishes: Sequence[TopicContract] = ()  # topics written besides its events and dead letters
    seed: Callable[[Database, PlatformSettings, datetime], Awaitable[None]] | None = None  # runs at start-up
    gauges: dict[str, Callable[[Database], Awaitable[float]]] = field(default_factory=dict)
    pii_cipher: FieldCipher | None = None  # seals dead letters of subscriptions marked personal_data
    public_seal_keys: dict[str, Any] | None = None  # the JWK set clients seal personal fields with, served at /keys/seal
    horizons: Sequence[Horizon] = ()  # its own tables the retention task prunes


async def _raw_records(message: Any) -> Any:
    """Hand the subscriber the raw Kafka records: decoding is the consumer path's job.

    A coroutine: FastStream runs a plain function decoder on a worker thread, a thread hop per batch."""
    return message.raw_message


def _documented(contracts: Sequence[TopicContract]) -> Any:
    """The handler's parameter type: raw records at run time, the topics' unions in AsyncAPI."""
    members = tuple(c.union for c in contracts)
    schema = TypeAdapter(Union[members] if len(members) > 1 else members[0]).json_schema()  # noqa: UP007
    return Annotated[Any, WithJsonSchema(_inline_refs(schema, schema.pop("$defs", {})))]


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``$ref``s to ``$defs`` by the definitions themselves (the contracts are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


@functools.lru_cache(maxsize=1024)
def _kafka_headers(stored: str) -> list[tuple[str, bytes]] | None:
    """An outbox row's headers (a JSON object) as Kafka headers; rows of one type share theirs."""
    return [(k, v.encode()) for k, v in json.loads(stored).items()] or None


def _child(metric: Any, label: str) -> Any:
    """A labelled child of a one-label metric, looked up once per label value."""
    children = metric.__dict__.setdefault("_danbao_children", {})
    child = children.get(label)
    if child is None:
        child = children[label] = metric.labels(label)
    return child


async def started_producer(bootstrap: str, client_id: str, seconds: float, platform: PlatformSettings | None = None,
                           **options: Any) -> AIOKafkaProducer:
    """A started aiokafka producer; while the broker cannot be reached it tries again every half second
    for ``seconds`` (a broker that restarts, or starts after the service, is waited for).
    ``platform``'s DANBAO_KAFKA_* settings say how it authenticates (the environment's if not given)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, **aiokafka_options(platform), **options)
        try:
            await producer.start()
            return producer
        except KafkaError as exc:
            await producer.stop()
            if loop.time() >= deadline:
                raise
            log.warning("%s cannot reach the broker yet (%s): trying again", client_id, exc)
            await asyncio.sleep(0.5)


class ServiceRuntime:
    def __init__(self, definition: ServiceDefinition, settings: ServiceSettings, platform: PlatformSettings | None = None) -> None:
        self.definition = definition
        self.name = definition.name
        self.platform = platform or PlatformSettings()
        self.settings = settings
        self.registry = CollectorRegistry()
        self.broker = KafkaBroker(
            self.platform.kafka_bootstrap,
            client_id=f"danbao-{self.name}",
            security=faststream_security(self.platform),
            middlewares=[KafkaPrometheusMiddleware(registry=self.registry, app_name=f"danbao_{self.name}")],
            request_timeout_ms=10_000,
            logger=logging.getLogger(f"faststream.{self.name}"),
            log_level=logging.DEBUG,  # one line per message only when debugging
        )
        self.db = Database(settings.database_url or sqlite_file_url(self.platform.data_dir, self.name))
        self.schema_gate = SchemaGate(self.db, definition.schema, upgrade=self.platform.upgrades_db_at_start,
                                      poll_seconds=self.platform.db_wait_poll_seconds)
        self.clock = TestableClock(allowed=self.platform.test_clock_allowed)
        self.relay = OutboxRelay(self.db, self._publish, name=self.name)
        self.retention = Retention(self.db, self.clock, inbox=timedelta(days=self.platform.inbox_retention_days),
                                   idempotency=timedelta(days=self.platform.idempotency_retention_days),
                                   horizons=tuple(definition.horizons))
        self.scheduler = TimerScheduler(self.db, self.clock, self.name, dict(definition.timers), on_commit=self.relay.wake)
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: AIOKafkaProducer | None = None  # the relay's, started with the background tasks
        self._delay = Histogram(
            "danbao_consume_delay_seconds", "Time from a record's timestamp to the start of the batch that handled it, per topic",
            ["topic"], registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self._published = Counter("danbao_outbox_published", "Events the outbox relay handed to Kafka, per topic",
                                  ["topic"], registry=self.registry)
        self.gauges = {
            name: (Gauge(name, f"{name} of {self.name}", registry=self.registry), probe)
            for name, probe in {"danbao_outbox_backlog": outbox_backlog, "danbao_parked_messages": parked_messages,
                                "danbao_dead_letters": dead_letters, **definition.gauges}.items()
        }
        self.pid = os.getpid()
        self.phase = "waiting for the broker"  # then preparing the database, starting the consumer, running
        self.consumer_health = ConsumerHealth(f"danbao-{self.name}", self.registry, self.platform.stall_seconds)
        self.authority = Authority.from_settings(self.platform)  # refuses development issuers in production
        self.calendar = business_days.configure(self.platform.calendar_overrides_file)  # a bad override file stops here
        self._calendar_years = Gauge(
            "danbao_calendar_year_data", "Holiday data per year (this year, next year, and any year a computation was "
            "refused for): 2 official, 1 provisional (no make-up working days), 0 none", ["year"], registry=self.registry)
        self._calendar_refusals = Gauge(
            "danbao_calendar_refusals", "Business-day computations refused since start because a year had no holiday data",
            ["year"], registry=self.registry)
        self._subscribe([*definition.subscriptions, Subscription(
            control.COMMANDS, control_handlers(self.name, self.clock, lambda: self.consumer), group_suffix="control")])
        for contract in [definition.events, *definition.publishes, control.EVENTS, dead_letter_contract(self.name)]:
            # Declared for the AsyncAPI document; the outbox relay does the publishing.
            self.broker.publisher(contract.topic, title=f"{contract.topic}:{self.name}",
                                  description=contract.description, schema=_documented([contract]))

    @property
    def port(self) -> int:
        return self.settings.http_port or self.platform.http_port or self.definition.default_port

    # -- wiring ---------------------------------------------------------------------------

    def _subscribe(self, subscriptions: Sequence[Subscription]) -> None:
        """One consumer (one group join) for all the service's topics; offsets commit after the unit of work."""
        routes = {
            sub.contract.topic: Route(
                sub.contract, sub.handlers, f"{self.name}-{sub.group_suffix}" if sub.group_suffix else self.name,
                sub.ignore_unknown_types, self.definition.pii_cipher if sub.personal_data else None,
                # Commands come from outside: each must prove its sender. Events are trusted by topic ownership.
                authenticated=sub.contract.topic in (topics.commands(self.name), topics.CONTROL_COMMANDS),
            )
            for sub in subscriptions
        }
        self.consumer = MessageConsumer(
            service=self.name, routes=routes, db=self.db, clock=self.clock, events=self.definition.events,
            rejection=rejection_payload(self.name), dead_letters=dead_letter_contract(self.name),
            on_commit=self.relay.wake, on_delay=lambda topic, seconds: _child(self._delay, topic).observe(seconds),
            park_for=timedelta(seconds=self.platform.park_seconds), authority=self.authority,
        )
        consumer, health = self.consumer, self.consumer_health
        self.scheduler.handlers[PARKED_TIMER] = consumer.expire  # a parked command's last chance
        if self.platform.mode is Mode.TEST:
            consumer.after_batch = self._crash_if_asked

        # ``records`` is what ``_raw_records`` decoded: the batch's raw Kafka records. (Asking for the message by
        # ``Context`` would cost a worker-thread hop per batch: FastStream resolves it as a plain function.)
        async def handle(records: Any) -> None:
            try:
                await consumer.consume(records)
            except Exception as exc:
                health.batch_failed(exc)  # the batch is delivered again
                raise
            health.batch_handled(records)

        handle.__annotations__ = {"records": _documented([s.contract for s in subscriptions]), "message": Any, "return": None}
        self.subscriber = self.broker.subscriber(
            *routes,
            group_id=f"danbao-{self.name}",
            batch=True,
            max_records=self.settings.batch_size,
            batch_timeout_ms=self.platform.poll_wait_ms,  # polled promptly: see prompt() below
            # Tansu checks a waiting fetch again only after half the wait left, so there a short wait is the latency floor.
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms or self.platform.fetch_max_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            decoder=_raw_records,
            title=f"danbao-{self.name}",
            description="; ".join(f"{s.contract.topic}: {s.contract.description}" for s in subscriptions),
        )
        prompt(self.subscriber)  # no pause after an empty poll (shared.polling)
        self.subscriber(handle)

    def _crash_if_asked(self, processed: int) -> None:
        """Test mode fault injection: die by SIGKILL after a batch that did work is committed, before its
        offsets are, so the batch is delivered again. Once if ``test_crash_after_commit`` names this service;
        and each time a chaos run leaves a ``<service>.crash-requested`` file in the data folder."""
        if not processed:
            return
        marker = self.platform.data_dir / f"{self.name}.crashed"
        if self.platform.test_crash_after_commit == self.name and not marker.exists():
            marker.write_text("killed after commit, before the offset commit\n")
            os.kill(os.getpid(), signal.SIGKILL)
        request = self.platform.data_dir / f"{self.name}.crash-requested"
        if request.exists():
            request.unlink(missing_ok=True)
            os.kill(os.getpid(), signal.SIGKILL)

    async def _publish(self, row: Any) -> Any:
        """Hand one outbox row to the producer; returns the delivery future the relay awaits.

        A running service publishes with its own plain aiokafka producer: the relay only moves
        bytes that were validated when they were written, and FastStream's publish path (with
        its middlewares) costs about twice as much CPU per message. Under FastStream's test
        broker (no producer started) the broker publishes, so its subscribers receive."""
        _child(self._published, row.topic).inc()
        key = row.key.encode() if row.key else None
        if self._producer is None:
            return await self.broker.publish(row.payload, topic=row.topic, key=key, headers=json.loads(row.headers), no_confirm=True)
        return await self._producer.send(row.topic, row.payload, key=key, headers=_kafka_headers(row.headers))

    # -- lifecycle ------------------------------------------------------------------------

    async def wait_for_broker(self) -> None:
        """Before the subscribers start: until the broker answers, at most ``broker_wait_seconds``."""
        probe = await started_producer(self.platform.kafka_bootstrap, f"danbao-{self.name}-probe",
                                       self.platform.broker_wait_seconds, self.platform)
        await probe.stop()
        self.phase = "preparing the database"

    async def consumer_starting(self) -> None:
        """After the storage is ready, before the subscriber joins its group."""
        self.phase = "starting the consumer"

    async def open_storage(self) -> None:
        """At start-up (behind /health/live: shared/serving.py): the database's schema, upgraded or found current,
        then the seeds. On a database the service may not run on it waits, not ready with the gate's reason on
        /health/ready, starting no subscriber, and goes on once someone upgrades it (shared/migrations/gate.py)."""
        if not await self.schema_gate.open():
            self.phase = WAITING_FOR_UPGRADE
            await self.schema_gate.wait()
            self.phase = "preparing the database"
        await self.seed_storage()

    async def start_storage(self) -> None:
        """Schema and seeds at once, for tests that drive a runtime without its app: a refusal raises."""
        if not await self.schema_gate.open():
            raise SchemaRefused(self.schema_gate.problem or "")
        await self.seed_storage()

    async def seed_storage(self) -> None:
        """What a start reads and writes before consuming (the test clock, the development roster, the service's own
        seed), one instance at a time: instances started together would otherwise insert the same rows."""
        async with one_instance_at_a_time(self.db, self.definition.schema):
            async with self.db.transaction() as session:
                state = await session.get(ClockState, self.name)
                if self.platform.mode is not Mode.PRODUCTION:
                    await seed_development_roster(session, self.clock.now())
            if state and self.clock.allowed:
                self.clock.restore(state.offset_seconds)
            if self.definition.seed is not None:
                await self.definition.seed(self.db, self.platform, self.clock.now())

    def calendar_warnings(self) -> list[str]:
        return self.calendar.warnings(self.clock.now().astimezone(business_days.CHINA).date(),
                                      self.platform.calendar_warning_days)

    def _calendar_metrics(self) -> None:
        this_year = self.clock.now().astimezone(business_days.CHINA).year
        for year in {this_year, this_year + 1, *self.calendar.refusals}:
            self._calendar_years.labels(str(year)).set(self.calendar.year_data(year).metric)
        for year, refused in self.calendar.refusals.items():
            self._calendar_refusals.labels(str(year)).set(refused)

    async def start_background(self) -> None:
        """The outbox relay and the timer scheduler run beside the subscribers."""
        for warning in self.calendar_warnings():
            log.warning("%s", warning)
        self._producer = await started_producer(
            self.platform.kafka_bootstrap, f"danbao-{self.name}-relay", self.platform.broker_wait_seconds, self.platform,
            acks="all", linger_ms=2, request_timeout_ms=10_000, enable_idempotence=False)
        self._tasks = [asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"),
                       asyncio.create_task(self.scheduler.run(), name=f"{self.name}-timers"),
                       asyncio.create_task(self.retention.run(), name=f"{self.name}-retention"),
                       asyncio.create_task(self.consumer_health.watch(lambda: self.subscriber.consumer,
                                                                      self.platform.lag_refresh_seconds), name=f"{self.name}-lag")]
        self.consumer_health.started()
        self.phase = "running"

    @property
    def background_running(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def stop(self) -> None:
        self.relay.stop()
        self.scheduler.stop()
        self.retention.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self.db.dispose()

    # -- HTTP (shared/service_http.py) ------------------------------------------------------

    def asgi(self) -> AsgiFastStream:
        return service_asgi(self)

    def asyncapi(self, app: AsgiFastStream | None = None) -> dict[str, Any]:
        """The service's AsyncAPI document, one channel per topic with only its own messages (shared/asyncapi.py)."""
        spec = (app or self.asgi()).schema.to_specification().to_jsonable()
        handled: dict[str, set[str]] = {}
        for subscription in self.definition.subscriptions:
            handled.setdefault(subscription.contract.topic, set()).update(subscription.handlers)
        return refine(spec, self.name, handled)

    def run(self) -> None:
        logs.configure(self.name, self.platform.log_level)
        tracing.configure(self.name, self.platform.otel_exporter_otlp_endpoint)
        serving.serve(self.asgi(), self.name, self.platform.http_host, self.port)
