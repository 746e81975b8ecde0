"""What every outside-system simulator shares: read its request topic, answer on its callback
topic (signed by the answer function), serve health and metrics. Simulators keep no database and may
answer twice, as real outside systems do.

Like a service, a simulator answers ``/health/live`` from its first second, ``/health/ready`` with the
reasons it is not ready (the broker, a stuck consumer), and ``/metrics`` (its consumer's lag and failed
batches, FastStream's message counters)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.response import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry, make_asgi_app
from pydantic import ValidationError

from shared import logs, serving, tracing
from shared.contracts.catalog import TopicContract
from shared.envelope import Actor, ActorKind, Envelope, Payload
from shared.health import ConsumerHealth
from shared.kafka_security import faststream_security
from shared.polling import prompt
from shared.settings import PlatformSettings

Reply = tuple[Payload, str]  # a signed reply and its key
# One reply, several (sent in order), or None (or an empty list) for silence.
Answer = Callable[[Payload], Reply | list[Reply] | None]


async def _records(message: Any) -> Any:
    """The batch's raw Kafka records (a coroutine: FastStream runs a plain decoder on a worker thread)."""
    return message.raw_message


def simulator_app(name: str, requests: TopicContract, replies: TopicContract, answer: Answer,
                  platform: PlatformSettings, delay_seconds: float = 0.0) -> AsgiFastStream:
    log = logging.getLogger(f"danbao.{name}")
    registry = CollectorRegistry()
    broker = KafkaBroker(platform.kafka_bootstrap, client_id=f"danbao-{name}", security=faststream_security(platform),
                         middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=f"danbao_{name.replace('-', '_')}")],
                         logger=logging.getLogger(f"faststream.{name}"), log_level=logging.DEBUG)
    health = ConsumerHealth(f"danbao-{name}", registry, platform.stall_seconds)
    subscriber = prompt(broker.subscriber(  # no pause after an empty poll (shared.polling)
        requests.topic, group_id=f"danbao-{name}", ack_policy=AckPolicy.ACK, batch=True, max_records=500,
        batch_timeout_ms=platform.poll_wait_ms, fetch_max_wait_ms=platform.fetch_max_wait_ms,
        auto_offset_reset="earliest", decoder=_records))

    async def handle(records: Any) -> None:  # no Context("message"): FastStream would resolve it on a worker thread
        try:
            await answer_batch([(record.value, record.headers) for record in records])
        except Exception as exc:
            health.batch_failed(exc)
            raise
        health.batch_handled(records)

    async def answer_batch(bodies: list[tuple[bytes | None, Any]]) -> None:
        replies_due: list[tuple[Envelope, str, dict[str, Any]]] = []
        for body, headers in bodies:
            try:
                request = requests.parse(json.loads(body))
            except (ValueError, LookupError, ValidationError) as exc:
                log.warning("ignoring a request it cannot read: %s", exc)
                continue
            with tracing.consuming(headers, request.type, requests.topic):  # the reply continues the request's trace
                answered = answer(request.data)
                if not answered:
                    log.info("staying silent for %s", request.event_id)
                    continue
                for reply, key in answered if isinstance(answered, list) else [answered]:
                    envelope = Envelope(type=reply.TYPE, producer=name, data=reply,  # type: ignore[attr-defined]
                                        correlation_id=request.correlation_id, causation_id=str(request.event_id),
                                        actor=Actor(kind=ActorKind.SYSTEM, id=name))
                    replies_due.append((envelope, key, tracing.inject({"content-type": "application/json", "type": envelope.type})))
        if replies_due and delay_seconds:
            await asyncio.sleep(delay_seconds)
        for envelope, key, reply_headers in replies_due:
            # Not awaiting the broker's acknowledgement keeps one slow round trip from holding up the
            # next request; a reply lost in a crash is a provider that never answered, which the platform handles.
            await broker.publish(envelope.to_json(), replies.topic, key=key.encode(), headers=reply_headers, no_confirm=True)

    subscriber(handle)
    # Declares what the simulator writes (the broker ACLs are generated from it: ops.acl); it publishes with broker.publish.
    broker.publisher(replies.topic, title=f"{replies.topic}:{name}", description=replies.description)

    pid = os.getpid()
    running: list[asyncio.Task[None]] = []

    async def wait_for_broker() -> None:
        """Like a service: a broker that restarts, or starts after the simulator, is waited for."""
        from shared.runtime import started_producer

        probe = await started_producer(platform.kafka_bootstrap, f"danbao-{name}-probe", platform.broker_wait_seconds, platform)
        await probe.stop()

    async def started() -> None:
        health.started()
        running.append(asyncio.create_task(health.watch(lambda: subscriber.consumer, platform.lag_refresh_seconds)))

    async def stopping() -> None:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    @get(include_in_schema=False)
    async def live(scope: Any) -> AsgiResponse:
        return JSONResponse({"status": "live", "service": name, "pid": pid})

    @get(include_in_schema=False)
    async def ready(scope: Any) -> AsgiResponse:
        reasons = [] if running else ["starting: waiting for the broker"]
        try:
            broker_ok = bool(await broker.ping(timeout=2.0))
        except Exception:  # noqa: BLE001 - not connected yet
            broker_ok = False
        if not broker_ok:
            reasons.append("broker unreachable")
        reasons += health.problems()
        return JSONResponse({"status": "not ready" if reasons else "ready", "service": name, "pid": pid, "reasons": reasons,
                             "broker": broker_ok, "consumer": health.summary()}, status_code=503 if reasons else 200)

    return AsgiFastStream(broker, logger=log, on_startup=[wait_for_broker], after_startup=[started], on_shutdown=[stopping],
                          asgi_routes=[("/health/live", live), ("/health/ready", ready), ("/metrics", make_asgi_app(registry=registry))])


def serve(name: str, app: AsgiFastStream, port: int, platform: PlatformSettings) -> None:
    logs.configure(name, platform.log_level)
    tracing.configure(name, platform.otel_exporter_otlp_endpoint)
    serving.serve(app, name, platform.http_host, port)
