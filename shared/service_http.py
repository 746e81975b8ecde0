"""What a service serves over HTTP: ``/health/live``, ``/health/ready``, ``/metrics``, its AsyncAPI document
(``/docs/asyncapi.json`` and a viewer at ``/docs/asyncapi``) and, for a service that receives sealed fields, ``/keys/seal``.

- ``/health/live`` answers 200 whenever the process serves HTTP, from its first second (``shared.serving``
  starts the application behind it).
- ``/health/ready`` answers 200 only when the service has started, its database and the broker answer and is at
  its code's schema, its outbox relay and timers run, and its consumer is not stuck (``shared.health``);
  otherwise 503 with every reason in ``reasons`` (a refused database's in ``reason`` too, and ``schema``). ``warnings`` (the business calendar) ask an operator to act and never make it 503.
- ``/metrics``: Prometheus text; the gauges read from the database are read at each scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.response import JSONResponse
from faststream.specification import AsyncAPI
from prometheus_client import make_asgi_app
from sqlalchemy import func as sa_func
from sqlalchemy import select as sa_select

from shared.asyncapi import asyncapi_html
from shared.db import Database, run
from shared.messaging import DeadLetterRecord

if TYPE_CHECKING:
    from shared.runtime import ServiceRuntime

log = logging.getLogger("danbao.runtime")

_DEAD_LETTERS = sa_select(sa_func.count()).select_from(DeadLetterRecord.__table__)  # type: ignore[attr-defined]


async def dead_letters(db: Database) -> float:
    """Dead letters the service keeps (replayed or not): growth means messages it could never process."""
    async with db.core() as session:
        return float((await run(session, _DEAD_LETTERS, fetch="first"))[0])


def at_most_every(seconds: float, probe: Callable[[Database], Awaitable[float]],
                  clock: Callable[[], float] = time.monotonic) -> Callable[[Database], Awaitable[float]]:
    """A gauge probe that reads the database at most once per ``seconds`` (for a query that scans a whole
    table); scrapes in between get the last value."""
    last: list[Any] = [None, 0.0]

    async def cached(db: Database) -> float:
        if last[0] is None or clock() - last[1] >= seconds:
            last[0], last[1] = await probe(db), clock()
        return float(last[0])

    return cached


WAITING_FOR_UPGRADE = "waiting for its database's upgrade"  # the phase of a service the schema gate holds back


def schema_state(problem: str | None, waiting: bool) -> str:
    """``/health/ready``'s ``schema``: current, refused (the service waits for an upgrade) or not read yet."""
    return "current" if problem is None else "refused" if waiting else "not read yet"


async def readiness(runtime: ServiceRuntime) -> tuple[bool, dict[str, Any]]:
    """Whether the service is ready, and the body ``/health/ready`` answers."""
    reasons = [] if runtime.phase == "running" else [f"starting: {runtime.phase}"]
    database = await runtime.db.ping()
    if not database:
        reasons.append("database unreachable")
    try:
        broker = bool(await runtime.broker.ping(timeout=2.0))
    except Exception:  # noqa: BLE001 - not connected yet, or the connection broke
        broker = False
    if not broker:
        reasons.append("broker unreachable")
    background = runtime.background_running
    if runtime.phase == "running" and not background:
        reasons.append("outbox relay or timers stopped")
    reasons += runtime.consumer_health.problems()
    schema = schema_state(runtime.schema_gate.problem, runtime.phase == WAITING_FOR_UPGRADE)
    if schema == "refused":
        reasons.append(runtime.schema_gate.problem)  # why, and what to run (shared/migrations/gate.py)
    body = {"status": "not ready" if reasons else "ready", "service": runtime.name, "pid": runtime.pid, "reasons": reasons,
            "database": database, "schema": schema, "broker": broker, "relay_and_timers": background,
            "consumer": runtime.consumer_health.summary(),
            # Warnings do not take the service out of rotation: they ask an operator to act (see the runbook).
            "warnings": runtime.calendar_warnings()}
    return not reasons, body


def service_asgi(runtime: ServiceRuntime) -> AsgiFastStream:
    @get(include_in_schema=False)
    async def live(scope: Any) -> AsgiResponse:
        return JSONResponse({"status": "live", "service": runtime.name, "pid": runtime.pid})

    @get(include_in_schema=False)
    async def ready(scope: Any) -> AsgiResponse:
        ok, body = await readiness(runtime)
        return JSONResponse(body, status_code=200 if ok else 503)

    metrics_app = make_asgi_app(registry=runtime.registry)

    async def metrics(scope: Any, receive: Any, send: Any) -> None:
        runtime._calendar_metrics()
        for gauge, probe in runtime.gauges.values() if runtime.phase in ("starting the consumer", "running") else ():
            try:
                gauge.set(await probe(runtime.db))
            except Exception:  # noqa: BLE001 - a scrape never fails on one gauge
                log.exception("gauge probe failed")
        await metrics_app(scope, receive, send)

    document: dict[str, Any] = {}  # the AsyncAPI document, made on the first request

    @get(include_in_schema=False)
    async def asyncapi_json(scope: Any) -> AsgiResponse:
        document or document.update(runtime.asyncapi(app))
        return JSONResponse(document)

    @get(include_in_schema=False)
    async def asyncapi_page(scope: Any) -> AsgiResponse:
        document or document.update(runtime.asyncapi(app))
        return AsgiResponse(asyncapi_html(document).encode(), headers={"Content-Type": "text/html; charset=utf-8"})

    routes: list[tuple[str, Any]] = [("/health/live", live), ("/health/ready", ready), ("/metrics", metrics),
                                     ("/docs/asyncapi.json", asyncapi_json), ("/docs/asyncapi", asyncapi_page)]
    if runtime.definition.public_seal_keys is not None:
        @get(include_in_schema=False)
        async def seal_keys(scope: Any) -> AsgiResponse:
            return JSONResponse(runtime.definition.public_seal_keys, headers={"Cache-Control": "max-age=300"})
        routes.append(("/keys/seal", seal_keys))

    app = AsgiFastStream(
        runtime.broker,
        logger=logging.getLogger(f"danbao.{runtime.name}"),
        asgi_routes=routes,
        asyncapi_path=None,  # served above, per channel (shared/asyncapi.py); no "try it out", which would publish
        on_startup=[runtime.wait_for_broker, runtime.open_storage, runtime.consumer_starting],
        after_startup=[runtime.start_background],
        on_shutdown=[runtime.stop],
        specification=AsyncAPI(
            title=f"Danbao {runtime.name}",
            version="1.0.0",
            description=f"Topics the Danbao {runtime.name} service consumes and publishes. Every message is one JSON envelope.",
        ),
    )
    return app
