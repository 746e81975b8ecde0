"""How every Kafka client the platform creates reaches the broker: one place turns the
``DANBAO_KAFKA_*`` settings into client options, so no producer, consumer, admin client or
FastStream broker can be built with another idea of security.

- ``aiokafka_options(settings)``: keyword arguments for ``AIOKafkaProducer``, ``AIOKafkaConsumer``
  and ``AIOKafkaAdminClient`` (nothing on PLAINTEXT, the embedded broker's default).
- ``faststream_security(settings)``: the same as FastStream's ``security=`` object for ``KafkaBroker``.

Production mode refuses a connection that is not encrypted (PLAINTEXT, SASL_PLAINTEXT) unless
``DANBAO_KAFKA_ALLOW_PLAINTEXT`` says something else encrypts it.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import Mode, PlatformSettings, SaslMechanism

FASTSTREAM_SASL = {SaslMechanism.SCRAM_SHA_512: SASLScram512, SaslMechanism.SCRAM_SHA_256: SASLScram256,
                   SaslMechanism.PLAIN: SASLPlaintext}


class InsecureBrokerConnection(RuntimeError):
    """Production mode and an unencrypted broker connection nobody allowed."""


def check_policy(settings: PlatformSettings) -> None:
    if settings.mode is Mode.PRODUCTION and not settings.kafka_security_protocol.tls and not settings.kafka_allow_plaintext:
        raise InsecureBrokerConnection(
            f"production mode refuses DANBAO_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}: use SASL_SSL "
            "(or SSL with a client certificate), or set DANBAO_KAFKA_ALLOW_PLAINTEXT=true if something else encrypts it")


def ssl_context(settings: PlatformSettings) -> ssl.SSLContext | None:
    """The TLS context: the cluster's CA, and the client certificate and key for mTLS if set."""
    if not settings.kafka_security_protocol.tls:
        return None
    return create_ssl_context(cafile=settings.kafka_ssl_ca_file, certfile=settings.kafka_ssl_cert_file,
                              keyfile=settings.kafka_ssl_key_file)


def aiokafka_options(settings: PlatformSettings | None = None) -> dict[str, Any]:
    """Security keyword arguments for an aiokafka client; ``settings`` default to the environment's."""
    settings = settings or PlatformSettings()
    check_policy(settings)
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {}
    if protocol.value == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol.value
    if protocol.tls:
        options["ssl_context"] = ssl_context(settings)
    if protocol.sasl:
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism.value, sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_password())
    return options


def faststream_security(settings: PlatformSettings | None = None) -> BaseSecurity | None:
    """The same settings as FastStream's ``security=`` argument of ``KafkaBroker`` (None on PLAINTEXT)."""
    settings = settings or PlatformSettings()
    check_policy(settings)
    protocol = settings.kafka_security_protocol
    if protocol.sasl:
        sasl = FASTSTREAM_SASL[settings.kafka_sasl_mechanism]
        return sasl(settings.kafka_sasl_username or "", settings.kafka_password() or "", ssl_context=ssl_context(settings))
    if protocol.tls:
        return BaseSecurity(ssl_context=ssl_context(settings), use_ssl=True)
    return None
