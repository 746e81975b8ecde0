from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, ServiceSettings


class EscrowSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_ESCROW_", extra="ignore", secrets_dir=SECRETS_DIR)

    psp_callback_secret: str = Field(default=DEV_SECRET_PREFIX + "psp-callback-secret", description="Secret the provider signs refund callbacks with.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_ESCROW_PSP_CALLBACK_SECRET": self.psp_callback_secret}
