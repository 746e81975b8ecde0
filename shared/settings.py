"""Settings shared by every service (``DANBAO_`` prefix); each service adds its own class."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


DEV_SECRET_PREFIX = "dev-only-"


class PlatformSettings(BaseSettings):
    """What every service reads: ``DANBAO_MODE``, ``DANBAO_KAFKA_BOOTSTRAP``, ``DANBAO_DATA_DIR``."""

    model_config = SettingsConfigDict(env_prefix="DANBAO_", extra="ignore")

    mode: Mode = Field(default=Mode.DEV, description="dev and test allow the test clock and dev secrets.")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    data_dir: Path = Field(default=Path(".danbao"), description="Where SQLite files live on the embedded default.")
    broker_wait_seconds: float = Field(
        default=60.0, ge=0, le=3600,
        description="At start-up, how long a service keeps trying to reach the broker before it gives up and exits "
                    "(a broker that restarts, or starts after the services, is waited for).")
    log_level: str = Field(default="INFO")
    http_host: str = Field(default="127.0.0.1", description="Address the health/metrics server binds.")
    http_port: int = Field(default=0, description="Health/metrics port for whichever service runs (containers use 8080).")
    poll_pause_ms: int = Field(
        default=10, ge=1, le=1000,
        description="How long a service's consumer waits in a poll that finds nothing, and pauses again after it: "
                    "the most a message that arrives during the pause waits before it is read.")
    fetch_max_wait_ms: int = Field(
        default=500, ge=1, le=5000,
        description="Longest a fetch waits for new records. Apache Kafka answers as soon as records arrive; the "
                    "embedded Tansu broker answers when the wait runs out, so `danbao dev` shortens it.")
    inbox_retention_days: int = Field(
        default=14, ge=1, le=3650,
        description="How long a processed message's id is kept to drop copies of it; longer than Kafka's retention.")
    idempotency_retention_days: int = Field(
        default=30, ge=1, le=3650,
        description="How long a command's idempotency key (and the published events a repeat re-sends) is kept.")
    park_seconds: float = Field(
        default=60.0, ge=0, le=86400,
        description="How long a command may wait for another service's event it depends on (an order's hold, a "
                    "merchant's activation) before it is rejected; 0 rejects it at once.")
    trusted_issuers_file: Path | None = Field(
        default=None,
        description="JSON file of the issuers whose command tokens are accepted: {\"issuers\": [{\"issuer\", \"kinds\", "
                    "\"jwks\"}]}. Empty: the development issuers (dev and test mode only; production needs the file).")
    token_leeway_seconds: int = Field(
        default=60, ge=0, le=600, description="Clock skew allowed when checking a token's iat and exp.")
    token_max_lifetime_seconds: int = Field(
        default=900, ge=60, le=86400, description="Tokens living longer than this (exp - iat) are refused.")
    test_crash_after_commit: str | None = Field(
        default=None, description="Test mode only: this service kills itself once after a commit, before the offset commit.")

    @property
    def test_clock_allowed(self) -> bool:
        return self.mode is not Mode.PRODUCTION


SECRETS_DIR = os.environ.get("DANBAO_SECRETS_DIR") or None


class ServiceSettings(BaseSettings):
    """Base of each service's own settings class; subclasses set ``env_prefix`` to ``DANBAO_<SERVICE>_``.

    Secrets may also come from files named like the variable in ``DANBAO_SECRETS_DIR``
    (e.g. a mounted Kubernetes Secret or Compose secret: ``danbao_payments_database_url``).
    """

    model_config = SettingsConfigDict(extra="ignore", secrets_dir=SECRETS_DIR)

    database_url: str | None = Field(default=None, description="SQLAlchemy URL; empty means a SQLite file in the data dir.")
    http_port: int = Field(default=0, description="Health/metrics port; 0 picks the service's default.")
    batch_size: int = Field(default=500, ge=1, le=5000, description="Most records consumed per batch.")
    fetch_max_wait_ms: int | None = Field(default=None, ge=1, le=5000, description="This service's own fetch wait; empty means the platform's.")

    def secrets(self) -> dict[str, str]:
        """Names and values of this service's secrets, checked at start-up."""
        return {}

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> ServiceSettings:
        if PlatformSettings().mode is Mode.PRODUCTION:
            for name, value in self.secrets().items():
                if value.startswith(DEV_SECRET_PREFIX):
                    raise ValueError(f"{name} still has its development default; set it for production")
        return self
