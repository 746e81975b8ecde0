"""The bank simulator: pays merchants' payouts and answers, signed, on the bank callback topic.

| merchant id contains | answer |
|---|---|
| ``CLOSED`` | failed: ``account_closed`` (the reserved money goes back to the merchant's balance) |
| anything else | settled |
"""

from __future__ import annotations

import uuid

from faststream.asgi import AsgiFastStream
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.simulators.common import serve, simulator_app
from shared.contracts import bank
from shared.envelope import Payload
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, PlatformSettings, ServiceSettings

DEFAULT_PORT = 8111


class BankSimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_SIM_BANK_", extra="ignore", secrets_dir=SECRETS_DIR)

    callback_secret: str = Field(default=DEV_SECRET_PREFIX + "bank-callback-secret")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_SIM_BANK_CALLBACK_SECRET": self.callback_secret}


def answer(request: bank.TransferRequested, secret: str) -> bank.TransferCompleted:
    failure = "account_closed" if "CLOSED" in request.merchant_id else None
    return bank.TransferCompleted(
        payout_id=request.payout_id, status=bank.TransferStatus.FAILED if failure else bank.TransferStatus.SETTLED,
        amount=request.amount, bank_txn_id=f"BK-{uuid.uuid4().hex[:12]}", failure_reason=failure, signature="",
    ).signed(secret)


def build(settings: BankSimulatorSettings | None = None, platform: PlatformSettings | None = None) -> tuple[AsgiFastStream, int, PlatformSettings]:
    settings = settings or BankSimulatorSettings()
    platform = platform or PlatformSettings()

    def reply(request: Payload) -> tuple[Payload, str]:
        assert isinstance(request, bank.TransferRequested)
        return answer(request, settings.callback_secret), request.merchant_id

    app = simulator_app("bank-simulator", bank.REQUESTS, bank.CALLBACKS, reply, platform)
    return app, settings.http_port or platform.http_port or DEFAULT_PORT, platform


def run() -> None:
    app, port, platform = build()
    serve("bank-simulator", app, port, platform)
