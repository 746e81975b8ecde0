"""A service's HTTP face: /health/live, /health/ready, /metrics, /keys/seal and the AsyncAPI document, served
beside the broker by FastStream's ASGI app."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.response import JSONResponse
from faststream.specification import AsyncAPI
from prometheus_client import make_asgi_app

from shared.asyncapi import asyncapi_html

if TYPE_CHECKING:
    from shared.runtime import ServiceRuntime

log = logging.getLogger("danbao.runtime")


class _ServiceApp(AsgiFastStream):
    """FastStream's ASGI app, whose broker (the subscribers) starts only once the service may run on its database:
    until then HTTP already answers, /health/live with 200 and /health/ready with 503 and the reason."""

    def __init__(self, runtime: ServiceRuntime, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runtime = runtime

    async def _start_broker(self) -> None:  # FastStream runs it after the on_startup hooks, HTTP already up
        await self.runtime.storage_ready()
        await super()._start_broker()


def service_app(runtime: ServiceRuntime) -> AsgiFastStream:
    """The runtime's broker with its HTTP routes; the broker waits for a database the service may run on."""

    @get(include_in_schema=False)
    async def live(scope: Any) -> AsgiResponse:
        return JSONResponse({"status": "live", "service": runtime.name})

    @get(include_in_schema=False)
    async def ready(scope: Any) -> AsgiResponse:
        database = await runtime.db.ping()
        broker = await runtime.broker.ping(timeout=2.0)
        background = runtime.background_running
        refusal = runtime.schema_gate.problem
        ok = database and broker and background and refusal is None
        # Warnings do not take the service out of rotation: they ask an operator to act (see the runbook).
        body = {"status": "ready" if ok else "not ready", "service": runtime.name,
                "database": database, "schema": "current" if refusal is None else "refused", "broker": broker,
                "relay_and_timers": background, "warnings": runtime.calendar_warnings()}
        if refusal is not None:
            body["reason"] = refusal
        return JSONResponse(body, status_code=200 if ok else 503)

    metrics_app = make_asgi_app(registry=runtime.registry)

    async def metrics(scope: Any, receive: Any, send: Any) -> None:
        runtime._calendar_metrics()
        for gauge, probe in runtime._gauges.values():
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

    app = _ServiceApp(
        runtime,
        runtime.broker,
        logger=logging.getLogger(f"danbao.{runtime.name}"),
        asgi_routes=routes,
        asyncapi_path=None,  # served above, per channel (shared/asyncapi.py); no "try it out", which would publish
        on_startup=[runtime.wait_for_broker, runtime.open_storage],
        after_startup=[runtime.start_background],
        on_shutdown=[runtime.stop],
        specification=AsyncAPI(
            title=f"Danbao {runtime.name}",
            version="1.0.0",
            description=f"Topics the Danbao {runtime.name} service consumes and publishes. Every message is one JSON envelope.",
        ),
    )
    return app
