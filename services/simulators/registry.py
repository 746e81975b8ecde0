"""The enterprise credit registry simulator, with fixture companies (any other code: not found).

| credit code | registry says |
|---|---|
| ``91330100MA2AAAAA71`` | active, 杭州小盾牌贸易有限公司 |
| ``91330100MA2BBBBB0K`` | active, 杭州绿盾科技有限公司 |
| ``91330100MA2CCCCC48`` | revoked (吊销) |
| ``91330100MA2DDDDD8W`` | deregistered (注销) |
| ``91330100MA2EEEEE1F`` | active, but registered as 杭州另一家贸易有限公司 (a name mismatch for most applicants) |
| ``91330100MA2FFFFF54`` | no answer at all (a registry timeout) |

Each answer is signed with the shared registry callback secret (``DANBAO_SIM_REGISTRY_CALLBACK_SECRET``,
onboarding's ``DANBAO_ONBOARDING_REGISTRY_CALLBACK_SECRET``).
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.simulators.common import serve, simulator_app
from shared.contracts import registry
from shared.envelope import Payload
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, PlatformSettings, ServiceSettings

DEFAULT_PORT = 8112
ACTIVE, ACTIVE_2, REVOKED, DEREGISTERED, OTHER_NAME, SILENT = (
    "91330100MA2AAAAA71", "91330100MA2BBBBB0K", "91330100MA2CCCCC48", "91330100MA2DDDDD8W", "91330100MA2EEEEE1F",
    "91330100MA2FFFFF54")
FIXTURES: dict[str, tuple[registry.RegistryStatus, str | None]] = {
    ACTIVE: (registry.RegistryStatus.ACTIVE, "杭州小盾牌贸易有限公司"),
    ACTIVE_2: (registry.RegistryStatus.ACTIVE, "杭州绿盾科技有限公司"),
    REVOKED: (registry.RegistryStatus.REVOKED, "杭州已吊销贸易有限公司"),
    DEREGISTERED: (registry.RegistryStatus.DEREGISTERED, "杭州已注销贸易有限公司"),
    OTHER_NAME: (registry.RegistryStatus.ACTIVE, "杭州另一家贸易有限公司"),
}


class RegistrySimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_SIM_REGISTRY_", extra="ignore", secrets_dir=SECRETS_DIR)

    callback_secret: str = Field(default=DEV_SECRET_PREFIX + "registry-callback-secret",
                                 description="Signs answers; onboarding's DANBAO_ONBOARDING_REGISTRY_CALLBACK_SECRET.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_SIM_REGISTRY_CALLBACK_SECRET": self.callback_secret}


def answer(lookup: registry.LookupCompany, secret: str) -> registry.CompanyFound | None:
    """The registry's signed answer about the looked-up company (none for the silent fixture)."""
    if lookup.credit_code == SILENT:
        return None
    status, name = FIXTURES.get(lookup.credit_code, (registry.RegistryStatus.NOT_FOUND, None))
    return registry.CompanyFound(merchant_id=lookup.merchant_id, credit_code=lookup.credit_code, status=status, registered_name=name,
                                 signature="").signed(secret)


def build(settings: RegistrySimulatorSettings | None = None, platform: PlatformSettings | None = None) -> tuple[AsgiFastStream, int, PlatformSettings]:
    settings = settings or RegistrySimulatorSettings()
    platform = platform or PlatformSettings()

    def reply(request: Payload) -> tuple[Payload, str] | None:
        assert isinstance(request, registry.LookupCompany)
        found = answer(request, settings.callback_secret)
        return (found, request.merchant_id) if found else None

    app = simulator_app("registry-simulator", registry.REQUESTS, registry.RESULTS, reply, platform)
    return app, settings.http_port or platform.http_port or DEFAULT_PORT, platform


def run() -> None:
    app, port, platform = build()
    serve("registry-simulator", app, port, platform)
