"""Settings shared by every service (``DANBAO_`` prefix); each service adds its own class."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


DEV_SECRET_PREFIX = "dev-only-"
SECRETS_DIR = os.environ.get("DANBAO_SECRETS_DIR") or None


class KafkaSecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def sasl(self) -> bool:
        return self.value.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.value.endswith("SSL")


class SaslMechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    PLAIN = "PLAIN"


class PlatformSettings(BaseSettings):
    """What every service reads: ``DANBAO_MODE``, ``DANBAO_KAFKA_BOOTSTRAP``, ``DANBAO_DATA_DIR``, and how
    to reach the broker securely (``DANBAO_KAFKA_*``; every Kafka client gets them from ``shared.kafka_security``).

    The SASL password may come from a file named in ``DANBAO_KAFKA_SASL_PASSWORD_FILE``, or from the file
    ``danbao_kafka_sasl_password`` in ``DANBAO_SECRETS_DIR`` (a mounted Secret), like the services' secrets."""

    model_config = SettingsConfigDict(env_prefix="DANBAO_", extra="ignore", secrets_dir=SECRETS_DIR)

    mode: Mode = Field(default=Mode.DEV, description="dev and test allow the test clock and dev secrets.")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default=KafkaSecurityProtocol.PLAINTEXT,
        description="PLAINTEXT (the embedded broker), SSL (TLS, with a client certificate for mTLS), SASL_PLAINTEXT "
                    "or SASL_SSL (production). Production mode refuses the unencrypted two unless allowed below.")
    kafka_allow_plaintext: bool = Field(
        default=False,
        description="Production mode only: allow PLAINTEXT or SASL_PLAINTEXT (e.g. when a service mesh encrypts).")
    kafka_sasl_mechanism: SaslMechanism = Field(default=SaslMechanism.SCRAM_SHA_512, description="SASL mechanism.")
    kafka_sasl_username: str | None = Field(default=None, description="SASL user: this process's own principal.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password (better: a secret file).")
    kafka_sasl_password_file: FilePath | None = Field(default=None, description="A file holding the SASL password.")
    kafka_ssl_ca_file: FilePath | None = Field(default=None, description="PEM file of the CA that signed the broker's certificate.")
    kafka_ssl_cert_file: FilePath | None = Field(default=None, description="Client certificate (PEM) for mTLS.")
    kafka_ssl_key_file: FilePath | None = Field(default=None, description="The client certificate's private key (PEM) for mTLS.")
    kafka_replication_factor: int = Field(
        default=1, ge=1, le=16,
        description="Replicas of each topic `danbao topics` creates: 1 on the embedded broker, 3 in production.")
    kafka_min_insync_replicas: int = Field(
        default=1, ge=1, le=16,
        description="min.insync.replicas of each topic it creates: 1 on the embedded broker, 2 in production, so an "
                    "acks=all write survives the loss of one broker and is refused rather than kept by one alone.")
    data_dir: Path = Field(default=Path(".danbao"), description="Where SQLite files live on the embedded default.")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector to send trace spans to (e.g. http://otel-collector:4318); "
                                  "unset: tracing off (the trace context still passes from message to message).")
    broker_wait_seconds: float = Field(
        default=60.0, ge=0, le=3600,
        description="At start-up, how long a service keeps trying to reach the broker before it gives up and exits "
                    "(a broker that restarts, or starts after the services, is waited for).")
    log_level: str = Field(default="INFO")
    http_host: str = Field(default="127.0.0.1", description="Address the health/metrics server binds.")
    http_port: int = Field(default=0, description="Health/metrics port for whichever service runs (containers use 8080).")
    poll_wait_ms: int = Field(
        default=200, ge=1, le=5000,
        description="Longest a consumer's poll waits for records before it polls again. A poll returns as soon as "
                    "records arrive (shared.polling), so a longer wait costs no latency, only fewer polls while idle.")
    fetch_max_wait_ms: int = Field(
        default=500, ge=1, le=5000,
        description="Longest a fetch waits for new records. Apache Kafka answers as soon as records arrive; the "
                    "embedded Tansu broker looks again after half the wait left, then half of what is left, and so on, "
                    "so a record can wait up to half of it: `danbao dev` shortens it.")
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
    calendar_overrides_file: FilePath | None = Field(
        default=None,
        description="TOML file of the State Council's holiday schedule (days off and make-up working days) for years the "
                    "holidays package does not carry yet; see shared/calendar_overrides.py and the runbook. A malformed "
                    "file stops the service at start-up.")
    calendar_warning_days: int = Field(
        default=60, ge=1, le=366,
        description="/health/ready warns when a year from today to this many days ahead has no official holiday schedule.")
    db_upgrade_at_start: bool | None = Field(
        default=None,
        description="Upgrade the service's database to its code's schema at start-up (one instance at a time: a "
                    "PostgreSQL advisory lock). Empty: yes in dev and test mode, no in production, where `danbao db "
                    "upgrade` (the deploy's migration job) does it and a service whose database is behind its code "
                    "waits, not ready, until it is upgraded.")
    db_wait_poll_seconds: float = Field(
        default=5.0, gt=0, le=300,
        description="How often a service waiting for its database's upgrade looks at the database's revision again.")
    stall_seconds: float = Field(
        default=120.0, ge=1, le=86400,
        description="/health/ready answers 503 when the process's consumer has lag but has handled no batch for this "
                    "long (a batch failing again and again, or a consumer that stopped).")
    lag_refresh_seconds: float = Field(
        default=10.0, ge=0.1, le=3600,
        description="How often a process measures its consumer lag (the danbao_consumer_lag metric, and readiness).")
    test_crash_after_commit: str | None = Field(
        default=None, description="Test mode only: this service kills itself once after a commit, before the offset commit.")

    @property
    def test_clock_allowed(self) -> bool:
        return self.mode is not Mode.PRODUCTION

    @property
    def upgrades_db_at_start(self) -> bool:
        return self.db_upgrade_at_start if self.db_upgrade_at_start is not None else self.mode is not Mode.PRODUCTION

    def kafka_password(self) -> str | None:
        """The SASL password: the file's first line if a file is named, else the setting."""
        if self.kafka_sasl_password_file is not None:
            return (self.kafka_sasl_password_file.read_text().splitlines() or [""])[0]
        return self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> PlatformSettings:
        protocol = self.kafka_security_protocol
        if protocol.sasl and not (self.kafka_sasl_username and self.kafka_password()):
            raise ValueError(f"DANBAO_KAFKA_SECURITY_PROTOCOL={protocol} needs DANBAO_KAFKA_SASL_USERNAME and a password "
                             "(DANBAO_KAFKA_SASL_PASSWORD_FILE, or danbao_kafka_sasl_password in DANBAO_SECRETS_DIR)")
        if protocol.tls and self.kafka_ssl_ca_file is None:
            raise ValueError(f"DANBAO_KAFKA_SECURITY_PROTOCOL={protocol} needs DANBAO_KAFKA_SSL_CA_FILE (the cluster's CA)")
        tls_files = (self.kafka_ssl_ca_file, self.kafka_ssl_cert_file, self.kafka_ssl_key_file)
        if not protocol.tls and any(tls_files):
            raise ValueError(f"DANBAO_KAFKA_SSL_* files are set but DANBAO_KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS")
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError("mTLS needs both DANBAO_KAFKA_SSL_CERT_FILE and DANBAO_KAFKA_SSL_KEY_FILE")
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError("DANBAO_KAFKA_MIN_INSYNC_REPLICAS cannot exceed DANBAO_KAFKA_REPLICATION_FACTOR")
        return self


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
