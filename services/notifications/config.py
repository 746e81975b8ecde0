from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.notifications.domain import RetryPolicy
from shared.pii import FieldCipher, development_keys
from shared.sealing import SealSettings
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR


class NotificationsSettings(SealSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_NOTIFICATIONS_", extra="ignore", secrets_dir=SECRETS_DIR)

    pii_keys: str = Field(default_factory=development_keys, description="Keys encrypting contacts, webhook secrets and message "
                          "bodies: id:base64(32 bytes), comma separated; the first encrypts new values, every one listed decrypts.")
    pii_current_key_id: str | None = Field(default=None, description="The key id new values are encrypted with, if not the first.")
    contact_seal_keys: str = Field(default_factory=lambda: development_keys("contact seal"),
                                   description="The keys onboarding seals applicants' contacts with (shared with onboarding).")

    sms_url: str = Field(default="http://127.0.0.1:8113/sms", description="SMS gateway: messages are POSTed to <url>/messages.")
    sms_api_key: str = Field(default=DEV_SECRET_PREFIX + "sms-api-key", description="Bearer key of the SMS gateway.")
    push_url: str = Field(default="http://127.0.0.1:8113/push", description="App push service: messages are POSTed to <url>/messages.")
    push_api_key: str = Field(default=DEV_SECRET_PREFIX + "push-api-key", description="Bearer key of the push service.")
    smtp_host: str = Field(default="127.0.0.1", description="Mail server.")
    smtp_port: int = Field(default=8025, ge=1, le=65535, description="Mail server port (587 with STARTTLS, 465 with TLS).")
    smtp_username: str = Field(default="", description="SMTP login; empty: no login.")
    smtp_password: str = Field(default="", description="SMTP password (a secret file in production).")
    smtp_security: str = Field(default="none", pattern="^(none|starttls|tls)$", description="`none` (loopback only), `starttls` or `tls`.")
    mail_from: str = Field(default="Danbao 担保 <notify@danbao.example>", description="The From of every e-mail.")

    channel_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Longest wait for a gateway, mail server or webhook.")
    retry_base_seconds: float = Field(default=30.0, gt=0, description="First retry after this long; each next one `retry_factor` times longer.")
    retry_factor: float = Field(default=2.0, ge=1.0, le=10.0, description="Backoff growth per attempt.")
    retry_max_delay_seconds: float = Field(default=3600.0, gt=0, description="No two attempts further apart than this.")
    retry_horizon_seconds: float = Field(default=3 * 86400.0, gt=0, description="Give up this long after the first attempt.")
    webhook_rotation_overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30, description="After a new webhook secret, the old one also signs for this long.")
    webhook_allow_private_hosts: bool = Field(default=False, description="Allow http:// and loopback or private webhook hosts (dev and test mode always do).")
    delivery_batch_size: int = Field(default=100, ge=1, le=1000, description="Most deliveries claimed at once.")
    delivery_concurrency: int = Field(default=20, ge=1, le=200, description="Most deliveries in flight at once.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_NOTIFICATIONS_PII_KEYS": self.pii_keys, "DANBAO_NOTIFICATIONS_SEAL_PRIVATE_KEYS": self.seal_private_keys,
                "DANBAO_NOTIFICATIONS_CONTACT_SEAL_KEYS": self.contact_seal_keys,
                "DANBAO_NOTIFICATIONS_SMS_API_KEY": self.sms_api_key,
                "DANBAO_NOTIFICATIONS_PUSH_API_KEY": self.push_api_key}

    def cipher(self) -> FieldCipher:
        return FieldCipher.from_spec(self.pii_keys, self.pii_current_key_id)

    def contact_seal(self) -> FieldCipher:
        """Only opens what onboarding sealed; any of the keys may have sealed it."""
        return FieldCipher.from_spec(self.contact_seal_keys)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base_seconds=self.retry_base_seconds, factor=self.retry_factor,
                           max_delay_seconds=self.retry_max_delay_seconds, horizon_seconds=self.retry_horizon_seconds)
