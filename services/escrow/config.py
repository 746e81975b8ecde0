from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import SECRETS_DIR, ServiceSettings


class EscrowSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_ESCROW_", extra="ignore", secrets_dir=SECRETS_DIR)
