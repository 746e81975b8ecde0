from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.pii import FieldCipher, development_keys
from shared.sealing import SealSettings
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR


class OnboardingSettings(SealSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_ONBOARDING_", extra="ignore", secrets_dir=SECRETS_DIR)

    pii_keys: str = Field(default_factory=development_keys, description="PII encryption keys: id:base64(32 bytes), comma "
                          "separated; the first encrypts new values, every one listed decrypts.")
    pii_current_key_id: str | None = Field(default=None, description="The key id new values are encrypted with, "
                                           "if not the first of pii_keys.")
    contact_seal_keys: str = Field(default_factory=lambda: development_keys("contact seal"),
                                   description="Keys sealing applicants' contacts for the notifications service (the same in both): "
                                   "id:base64(32 bytes), comma separated; the first seals, every one listed opens.")
    contact_seal_current_key_id: str | None = Field(default=None, description="The key id contacts are sealed with, "
                                                    "if not the first of contact_seal_keys.")
    registry_callback_secret: str = Field(default=DEV_SECRET_PREFIX + "registry-callback-secret",
                                          description="Secret the enterprise credit registry signs its answers with.")
    bank_account_seal_keys: str = Field(default_factory=lambda: development_keys("bank account seal"),
                                        description="Keys sealing the verified settlement account number for the bank adapter "
                                        "(the same there, DANBAO_SIM_BANK_ACCOUNT_SEAL_KEYS): id:base64(32 bytes), comma "
                                        "separated; the first seals. Payments carries the sealed number and cannot open it.")
    bank_account_seal_current_key_id: str | None = Field(default=None, description="The key id account numbers are sealed "
                                                         "with, if not the first of bank_account_seal_keys.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_ONBOARDING_PII_KEYS": self.pii_keys, "DANBAO_ONBOARDING_SEAL_PRIVATE_KEYS": self.seal_private_keys,
                "DANBAO_ONBOARDING_CONTACT_SEAL_KEYS": self.contact_seal_keys,
                "DANBAO_ONBOARDING_REGISTRY_CALLBACK_SECRET": self.registry_callback_secret,
                "DANBAO_ONBOARDING_BANK_ACCOUNT_SEAL_KEYS": self.bank_account_seal_keys}

    def cipher(self) -> FieldCipher:
        return FieldCipher.from_spec(self.pii_keys, self.pii_current_key_id)

    def contact_seal(self) -> FieldCipher:
        return FieldCipher.from_spec(self.contact_seal_keys, self.contact_seal_current_key_id)

    def bank_account_seal(self) -> FieldCipher:
        return FieldCipher.from_spec(self.bank_account_seal_keys, self.bank_account_seal_current_key_id)
