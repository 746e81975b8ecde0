"""The payment-provider simulator: answers charge and refund requests on the callback topic, signed.
Refunds always succeed.

Outcomes, chosen by the buyer reference so tests and demos can ask for each one:

| buyer reference starts with | answer |
|---|---|
| ``B-POOR``   | failed: ``insufficient_balance`` |
| ``B-WRONG``  | failed: ``wrong_details`` |
| ``B-FLAKY``  | failed: ``network_error`` on the first attempt, then succeeded |
| ``B-SILENT`` | no answer at all (a provider timeout) |
| ``B-LATE``   | no answer to a charge's first request; succeeded when the same request arrives again (a capture that reaches the platform late, e.g. after the order expired) |
| anything else | succeeded |

It stands in for an outside system: it keeps no database and may answer twice, as real
providers do; the platform must cope.
"""

from __future__ import annotations

import uuid

from faststream.asgi import AsgiFastStream
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.simulators.common import serve, simulator_app
from shared.contracts import psp
from shared.envelope import Payload
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, PlatformSettings, ServiceSettings

DEFAULT_PORT = 8110


class PspSimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_SIM_PSP_", extra="ignore", secrets_dir=SECRETS_DIR)

    callback_secret: str = Field(default=DEV_SECRET_PREFIX + "psp-callback-secret")
    delay_seconds: float = Field(default=0.0, ge=0, description="Wait before answering, like a buyer scanning a code.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_SIM_PSP_CALLBACK_SECRET": self.callback_secret}


def answer(request: psp.ChargeRequested, attempt: int, secret: str, asked_before: bool = False) -> psp.ChargeCallback | None:
    ref = request.buyer_ref
    failure = None
    if ref.startswith("B-SILENT") or (ref.startswith("B-LATE") and not asked_before):
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

    held_back: set[str] = set()  # B-LATE intents asked once (memory only, like the rest of the simulator)

    def reply(request: Payload) -> tuple[Payload, str] | None:
        if isinstance(request, psp.RefundRequested):
            refund = psp.RefundCallback(refund_id=request.refund_id, order_id=request.order_id, amount=request.amount,
                                        provider_txn_id=f"PSP-{uuid.uuid4().hex[:16]}", signature="")
            return refund.signed(settings.callback_secret), request.order_id
        assert isinstance(request, psp.ChargeRequested)
        last = request.intent_id.rsplit("-", 1)[-1]
        asked_before = request.intent_id in held_back
        if request.buyer_ref.startswith("B-LATE"):
            held_back.add(request.intent_id)
        callback = answer(request, int(last) if last.isdigit() else 1, settings.callback_secret, asked_before)
        return (callback, request.order_id) if callback else None

    app = simulator_app("psp-simulator", psp.REQUESTS, psp.CALLBACKS, reply, platform, settings.delay_seconds)
    return app, settings.http_port or platform.http_port or DEFAULT_PORT, platform


def run() -> None:
    app, port, platform = build()
    serve("psp-simulator", app, port, platform)
