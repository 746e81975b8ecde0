"""The insurer simulator: decides the claims the platform files for priority compensation and pays
what it approves, each answer signed, on the insurer callback topic (keyed by the claim's order id).
The insurer decides after a delay (``DANBAO_SIM_INSURER_DELAY_SECONDS``, 2 s by default).

| merchant id contains | decision | then |
|---|---|---|
| ``DENY`` | denied: approved 0, ``excluded_merchant`` | no payment |
| ``HALF`` | partial: half the claim, rounded down to the fen, ``partly_covered`` | pays that half (a claim of 1 fen: denied, nothing to pay) |
| anything else | approved in full | pays the claim |

It stands in for an outside system: it keeps no database and may answer twice, as real
insurers do; the platform must cope.
"""

from __future__ import annotations

import uuid

from faststream.asgi import AsgiFastStream
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.simulators.common import Reply, serve, simulator_app
from shared.contracts import insurer
from shared.envelope import Payload
from shared.money import Money
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, PlatformSettings, ServiceSettings

DEFAULT_PORT = 8114


class InsurerSimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_SIM_INSURER_", extra="ignore", secrets_dir=SECRETS_DIR)

    callback_secret: str = Field(default=DEV_SECRET_PREFIX + "insurer-callback-secret",
                                 description="Signs decisions and payments; disputes' DANBAO_DISPUTES_INSURER_CALLBACK_SECRET.")
    delay_seconds: float = Field(default=2.0, ge=0, description="The insurer decides after a delay.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_SIM_INSURER_CALLBACK_SECRET": self.callback_secret}


def decide(claim: insurer.ClaimFiled) -> tuple[insurer.ClaimDecision, int, str | None]:
    """The decision, the approved amount in minor units, and the reason (for a reduced or denied claim)."""
    if "DENY" in claim.merchant_id:
        return insurer.ClaimDecision.DENIED, 0, "excluded_merchant"
    if "HALF" in claim.merchant_id:
        half = claim.amount.amount // 2
        return (insurer.ClaimDecision.PARTIAL if half else insurer.ClaimDecision.DENIED), half, "partly_covered"
    return insurer.ClaimDecision.APPROVED, claim.amount.amount, None


def answer(claim: insurer.ClaimFiled, secret: str) -> list[insurer.ClaimDecided | insurer.ClaimPaid]:
    """The signed decision and, when anything is approved, the signed payment of it."""
    decision, approved, reason = decide(claim)
    amount = Money(amount=approved, currency=claim.amount.currency)
    replies: list[insurer.ClaimDecided | insurer.ClaimPaid] = [insurer.ClaimDecided(
        claim_id=claim.claim_id, case_id=claim.case_id, decision=decision, approved=amount, reason=reason, signature="",
    ).signed(secret)]
    if approved:
        replies.append(insurer.ClaimPaid(claim_id=claim.claim_id, case_id=claim.case_id, amount=amount,
                                         insurer_txn_id=f"INS-{uuid.uuid4().hex[:12]}", signature="").signed(secret))
    return replies


def keyed(request: Payload, secret: str) -> list[Reply]:
    """The answers to a claim, each keyed by the claim's order id (as disputes keys everything about a case)."""
    assert isinstance(request, insurer.ClaimFiled)
    return [(callback, request.order_id) for callback in answer(request, secret)]


def build(settings: InsurerSimulatorSettings | None = None, platform: PlatformSettings | None = None) -> tuple[AsgiFastStream, int, PlatformSettings]:
    settings = settings or InsurerSimulatorSettings()
    platform = platform or PlatformSettings()

    def reply(request: Payload) -> list[Reply]:
        return keyed(request, settings.callback_secret)

    app = simulator_app("insurer-simulator", insurer.REQUESTS, insurer.CALLBACKS, reply, platform, settings.delay_seconds)
    return app, settings.http_port or platform.http_port or DEFAULT_PORT, platform


def run() -> None:
    app, port, platform = build()
    serve("insurer-simulator", app, port, platform)
