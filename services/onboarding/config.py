from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.pii import FieldCipher, development_keys, parse_keys
from shared.settings import SECRETS_DIR, ServiceSettings


class OnboardingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_ONBOARDING_", extra="ignore", secrets_dir=SECRETS_DIR)

    pii_keys: str = Field(default_factory=development_keys, description="PII encryption keys: id:base64(32 bytes), comma separated.")
    pii_current_key_id: str = Field(default="dev-only-k1", description="The key id new values are encrypted with.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_ONBOARDING_PII_KEYS": self.pii_keys}

    def cipher(self) -> FieldCipher:
        return FieldCipher(parse_keys(self.pii_keys), self.pii_current_key_id)
