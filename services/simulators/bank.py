"""The bank simulator: pays merchants' payouts and answers, signed, on the bank callback topic.

It opens the settlement account number each transfer carries sealed (``sealed_account``, with the bank-account
seal keys it shares with onboarding: ``DANBAO_SIM_BANK_ACCOUNT_SEAL_KEYS``), as the real bank adapter must.

| the transfer | answer |
|---|---|
| no sealed account, or one that does not open for this merchant and ``account_ref`` | failed: ``account_unreadable`` |
| merchant id contains ``CLOSED`` | failed: ``account_closed`` |
| anything else | settled |

A failed transfer's reserved money goes back to the merchant's balance.
"""

from __future__ import annotations

import uuid

from faststream.asgi import AsgiFastStream
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.simulators.common import serve, simulator_app
from shared.contracts import bank
from shared.contracts.settlement import open_account
from shared.envelope import Payload
from shared.pii import FieldCipher, UnreadableValue, development_keys
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, PlatformSettings, ServiceSettings

DEFAULT_PORT = 8111


class BankSimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_SIM_BANK_", extra="ignore", secrets_dir=SECRETS_DIR)

    callback_secret: str = Field(default=DEV_SECRET_PREFIX + "bank-callback-secret")
    account_seal_keys: str = Field(default_factory=lambda: development_keys("bank account seal"),
                                   description="The bank-account seal keys onboarding seals settlement account numbers "
                                   "with (DANBAO_ONBOARDING_BANK_ACCOUNT_SEAL_KEYS): id:base64(32 bytes), comma separated.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_SIM_BANK_CALLBACK_SECRET": self.callback_secret,
                "DANBAO_SIM_BANK_ACCOUNT_SEAL_KEYS": self.account_seal_keys}

    def account_seal(self) -> FieldCipher:
        return FieldCipher.from_spec(self.account_seal_keys)


def account_number(request: bank.TransferRequested, cipher: FieldCipher) -> str | None:
    """The number the transfer goes to, or None if it carries none this bank can open."""
    if request.sealed_account is None:
        return None
    try:
        return open_account(request.sealed_account, request.merchant_id, request.account_ref, cipher)
    except UnreadableValue:
        return None


def answer(request: bank.TransferRequested, secret: str, cipher: FieldCipher) -> bank.TransferCompleted:
    number = account_number(request, cipher)
    failure = "account_unreadable" if number is None or not number.isdigit() else (
        "account_closed" if "CLOSED" in request.merchant_id else None)
    return bank.TransferCompleted(
        payout_id=request.payout_id, status=bank.TransferStatus.FAILED if failure else bank.TransferStatus.SETTLED,
        amount=request.amount, bank_txn_id=f"BK-{uuid.uuid4().hex[:12]}", failure_reason=failure, signature="",
    ).signed(secret)


def build(settings: BankSimulatorSettings | None = None, platform: PlatformSettings | None = None) -> tuple[AsgiFastStream, int, PlatformSettings]:
    settings = settings or BankSimulatorSettings()
    platform = platform or PlatformSettings()
    cipher = settings.account_seal()

    def reply(request: Payload) -> tuple[Payload, str]:
        assert isinstance(request, bank.TransferRequested)
        return answer(request, settings.callback_secret, cipher), request.merchant_id

    app = simulator_app("bank-simulator", bank.REQUESTS, bank.CALLBACKS, reply, platform)
    return app, settings.http_port or platform.http_port or DEFAULT_PORT, platform


def run() -> None:
    app, port, platform = build()
    serve("bank-simulator", app, port, platform)
