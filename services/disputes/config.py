from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import SECRETS_DIR, ServiceSettings


class DisputesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_DISPUTES_", extra="ignore", secrets_dir=SECRETS_DIR)
