"""The payment-provider simulator: answers charge and refund requests on the callback topic, signed.
Refunds always succeed.

Outcomes, chosen by the buyer reference so tests and demos can ask for each one:

| buyer reference starts with | answer |
|---|---|
| ``B-POOR``   | failed: ``insufficient_balance`` |
| ``B-WRONG``  | failed: ``wrong_details`` |
| ``B-FLAKY``  | failed: ``network_error`` on the first attempt, then succeeded |
| ``B-SILENT`` | no answer at all (a provider timeout) |
| anything else | succeeded |

It stands in for an outside system: it keeps no database and may answer twice, as real
providers do; the platform must cope.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.response import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from shared import logs, topics
from shared.contracts import psp
from shared.envelope import Actor, ActorKind, Envelope
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, PlatformSettings, ServiceSettings

log = logging.getLogger("danbao.sim.psp")
DEFAULT_PORT = 8110


class PspSimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_SIM_PSP_", extra="ignore", secrets_dir=SECRETS_DIR)

    callback_secret: str = Field(default=DEV_SECRET_PREFIX + "psp-callback-secret")
    delay_seconds: float = Field(default=0.0, ge=0, description="Wait before answering, like a buyer scanning a code.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_SIM_PSP_CALLBACK_SECRET": self.callback_secret}


def answer(request: psp.ChargeRequested, attempt: int, secret: str) -> psp.ChargeCallback | None:
    ref = request.buyer_ref
    failure = None
    if ref.startswith("B-SILENT"):
        return None
    if ref.startswith("B-POOR"):
        failure = "insufficient_balance"
    elif ref.startswith("B-WRONG"):
        failure = "wrong_details"
    elif ref.startswith("B-FLAKY") and attempt == 1:
        failure = "network_error"
    callback = psp.ChargeCallback(
        intent_id=request.intent_id, order_id=request.order_id,
        status=psp.ChargeStatus.FAILED if failure else psp.ChargeStatus.SUCCEEDED,
        amount=request.amount, provider_txn_id=f"PSP-{uuid.uuid4().hex[:16]}", failure_reason=failure, signature="",
    )
    return callback.signed(secret)


def build(settings: PspSimulatorSettings | None = None, platform: PlatformSettings | None = None) -> tuple[AsgiFastStream, int, PlatformSettings]:
    settings = settings or PspSimulatorSettings()
    platform = platform or PlatformSettings()
    broker = KafkaBroker(platform.kafka_bootstrap, client_id="danbao-sim-psp",
                         logger=logging.getLogger("faststream.psp-simulator"), log_level=logging.DEBUG)

    @broker.subscriber(topics.PSP_REQUESTS, group_id="danbao-sim-psp", ack_policy=AckPolicy.ACK, fetch_max_wait_ms=20,
                       auto_offset_reset="earliest", decoder=lambda m: m.body)
    async def charge(body: Any) -> None:
        try:
            request = psp.REQUESTS.parse(json.loads(body))
        except (ValueError, LookupError, ValidationError) as exc:
            log.warning("ignoring a request the provider cannot read: %s", exc)
            return
        data = request.data
        callback: psp.ChargeCallback | psp.RefundCallback | None
        if isinstance(data, psp.RefundRequested):
            callback = psp.RefundCallback(refund_id=data.refund_id, order_id=data.order_id, amount=data.amount,
                                          provider_txn_id=f"PSP-{uuid.uuid4().hex[:16]}", signature="").signed(settings.callback_secret)
        else:
            attempt = int(data.intent_id.rsplit("-", 1)[-1]) if data.intent_id.rsplit("-", 1)[-1].isdigit() else 1
            callback = answer(data, attempt, settings.callback_secret)
        if callback is None:
            log.info("staying silent for %s", data.intent_id)
            return
        if settings.delay_seconds:
            await asyncio.sleep(settings.delay_seconds)
        reply = Envelope(type=callback.TYPE, producer="psp-simulator", data=callback,
                         correlation_id=request.correlation_id, causation_id=str(request.event_id),
                         actor=Actor(kind=ActorKind.SYSTEM, id="psp"))
        await broker.publish(reply.to_json(), topics.PSP_CALLBACKS, key=data.order_id.encode(),
                             headers={"content-type": "application/json", "type": reply.type})

    @get(include_in_schema=False)
    async def live(scope: Any) -> AsgiResponse:
        return JSONResponse({"status": "live", "service": "psp-simulator"})

    @get(include_in_schema=False)
    async def ready(scope: Any) -> AsgiResponse:
        ok = await broker.ping(timeout=2.0)
        return JSONResponse({"status": "ready" if ok else "not ready", "broker": ok}, status_code=200 if ok else 503)

    app = AsgiFastStream(broker, logger=logging.getLogger("danbao.psp-simulator"), asgi_routes=[("/health/live", live), ("/health/ready", ready)])
    return app, settings.http_port or platform.http_port or DEFAULT_PORT, platform


def run() -> None:
    app, port, platform = build()
    logs.configure("psp-simulator", platform.log_level)
    asyncio.run(app.run(log_level=logging.WARNING, run_extra_options={"host": platform.http_host, "port": port}))
