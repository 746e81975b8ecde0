"""The DANBAO_KAFKA_* settings become the right client options for each security protocol, and
incomplete or unsafe combinations are refused. (The embedded Tansu broker speaks neither SASL nor
TLS, so these options are checked here, not against a broker.)"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from ops.kafka_secrets import Authority, cert_pem, key_pem
from shared.kafka_security import InsecureBrokerConnection, aiokafka_options, faststream_security
from shared.settings import PlatformSettings


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca = Authority("Test CA")
    key, cert = ca.issue("danbao-payments")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client-key.pem",
             "password": tmp_path / "password"}
    files["ca"].write_bytes(cert_pem(ca.cert))
    files["cert"].write_bytes(cert_pem(cert))
    files["key"].write_bytes(key_pem(key))
    files["password"].write_text("s3cret-from-the-vault\n")
    return files


def _settings(**values: object) -> PlatformSettings:
    return PlatformSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_plaintext_is_the_default_and_adds_no_option() -> None:
    settings = _settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert aiokafka_options(settings) == {}
    assert faststream_security(settings) is None
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (1, 1)


def test_sasl_ssl_with_scram_sha_512_reads_the_password_file_and_trusts_the_ca(pki: dict[str, Path]) -> None:
    settings = _settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="danbao-payments",
                         kafka_sasl_password_file=pki["password"], kafka_ssl_ca_file=pki["ca"])
    options = aiokafka_options(settings)
    context = options.pop("ssl_context")
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "danbao-payments", "sasl_plain_password": "s3cret-from-the-vault"}
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "Test CA"),),)]
    security = faststream_security(settings)
    assert isinstance(security, SASLScram512) and security.use_ssl
    # FastStream turns its security object into the same aiokafka options.
    assert {k: v for k, v in parse_security(security).items() if k != "ssl_context"} == options


def test_the_password_may_come_from_the_secrets_dir(pki: dict[str, Path], tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "danbao_kafka_sasl_password").write_text("from-a-mounted-secret")
    settings = PlatformSettings(_secrets_dir=secrets, kafka_security_protocol="SASL_SSL",  # type: ignore[call-arg]
                                kafka_sasl_username="danbao-escrow", kafka_ssl_ca_file=pki["ca"])
    assert aiokafka_options(settings)["sasl_plain_password"] == "from-a-mounted-secret"


@pytest.mark.parametrize(("mechanism", "kind"), [("SCRAM-SHA-256", SASLScram256), ("PLAIN", SASLPlaintext)])
def test_other_sasl_mechanisms(mechanism: str, kind: type, pki: dict[str, Path]) -> None:
    settings = _settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism=mechanism,
                         kafka_sasl_username="danbao-ops", kafka_sasl_password="pw")
    assert aiokafka_options(settings) == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
                                          "sasl_plain_username": "danbao-ops", "sasl_plain_password": "pw"}
    security = faststream_security(settings)
    assert type(security) is kind and not security.use_ssl
    assert parse_security(security) == {**aiokafka_options(settings), "ssl_context": None}


def test_mtls_loads_the_client_certificate(pki: dict[str, Path]) -> None:
    settings = _settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["ca"],
                         kafka_ssl_cert_file=pki["cert"], kafka_ssl_key_file=pki["key"])
    options = aiokafka_options(settings)
    assert set(options) == {"security_protocol", "ssl_context"} and options["security_protocol"] == "SSL"
    security = faststream_security(settings)
    assert type(security) is BaseSecurity and security.use_ssl
    assert parse_security(security)["security_protocol"] == "SSL"


def test_a_key_that_does_not_match_the_certificate_is_refused(pki: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other-key.pem"
    other.write_bytes(key_pem(Authority("Other").key))
    settings = _settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["ca"],
                         kafka_ssl_cert_file=pki["cert"], kafka_ssl_key_file=other)
    with pytest.raises(ssl.SSLError):
        aiokafka_options(settings)


@pytest.mark.parametrize(("values", "message"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "needs DANBAO_KAFKA_SASL_USERNAME"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u"}, "and a password"),
    ({"kafka_security_protocol": "SSL"}, "needs DANBAO_KAFKA_SSL_CA_FILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/no/such/ca.pem"}, "does not point to a file"),
    ({"kafka_security_protocol": "PLAINTEXT", "kafka_ssl_ca_file": "CA"}, "uses no TLS"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "CA", "kafka_ssl_cert_file": "CA"}, "needs both"),
    ({"kafka_replication_factor": 3, "kafka_min_insync_replicas": 4}, "cannot exceed"),
    ({"kafka_security_protocol": "TLS"}, "PLAINTEXT"),
])
def test_incomplete_settings_are_refused(values: dict[str, str], message: str, pki: dict[str, Path]) -> None:
    values = {k: str(pki["ca"]) if v == "CA" else v for k, v in values.items()}
    with pytest.raises(ValidationError, match=message):
        _settings(**values)


def test_production_refuses_an_unencrypted_connection_unless_allowed(pki: dict[str, Path]) -> None:
    for protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        settings = _settings(mode="production", kafka_security_protocol=protocol, kafka_sasl_username="u", kafka_sasl_password="p")
        with pytest.raises(InsecureBrokerConnection, match="production mode refuses"):
            aiokafka_options(settings)
        with pytest.raises(InsecureBrokerConnection):
            faststream_security(settings)
        allowed = _settings(mode="production", kafka_security_protocol=protocol, kafka_sasl_username="u",
                            kafka_sasl_password="p", kafka_allow_plaintext=True)
        assert aiokafka_options(allowed).get("security_protocol", "PLAINTEXT") == protocol
    secure = _settings(mode="production", kafka_security_protocol="SASL_SSL", kafka_sasl_username="u",
                       kafka_sasl_password="p", kafka_ssl_ca_file=pki["ca"])
    assert aiokafka_options(secure)["security_protocol"] == "SASL_SSL"


def test_the_settings_come_from_the_environment(pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANBAO_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DANBAO_KAFKA_SASL_USERNAME", "danbao-ops")
    monkeypatch.setenv("DANBAO_KAFKA_SASL_PASSWORD_FILE", str(pki["password"]))
    monkeypatch.setenv("DANBAO_KAFKA_SSL_CA_FILE", str(pki["ca"]))
    monkeypatch.setenv("DANBAO_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("DANBAO_KAFKA_MIN_INSYNC_REPLICAS", "2")
    options = aiokafka_options()  # no settings: the environment's
    assert options["sasl_plain_username"] == "danbao-ops" and options["sasl_plain_password"] == "s3cret-from-the-vault"
    assert (PlatformSettings().kafka_replication_factor, PlatformSettings().kafka_min_insync_replicas) == (3, 2)


def test_topics_are_created_with_the_replication_settings() -> None:
    from ops.broker import new_topics

    (topic,) = new_topics(["danbao.escrow.events"], 12, _settings(kafka_replication_factor=3, kafka_min_insync_replicas=2))
    assert (topic.name, topic.num_partitions, topic.replication_factor) == ("danbao.escrow.events", 12, 3)
    assert topic.topic_configs == {"min.insync.replicas": "2"}
    (local,) = new_topics(["danbao.escrow.events"], 1, _settings())
    assert (local.replication_factor, local.topic_configs) == (1, {"min.insync.replicas": "1"})


async def test_the_compose_certificates_complete_an_mtls_handshake_with_the_client_context(tmp_path: Path) -> None:
    """A TLS server with the broker's certificate, requiring a client certificate, accepts the admin's
    through the context ``aiokafka_options`` builds (a handshake only: no Kafka broker speaks TLS here)."""
    import asyncio

    from ops.kafka_secrets import write_compose_files

    write_compose_files(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "kafka_ca.pem")
    server_context.load_cert_chain(tmp_path / "kafka_broker.pem")
    server_context.verify_mode = ssl.CERT_REQUIRED
    peers: list[object] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peercert")["subject"])
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    settings = _settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=tmp_path / "kafka_ca.pem",
                         kafka_ssl_cert_file=tmp_path / "kafka_admin.pem", kafka_ssl_key_file=tmp_path / "kafka_admin.pem")
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=aiokafka_options(settings)["ssl_context"],
                                                  server_hostname="localhost")
        await asyncio.sleep(0.05)
        writer.close()
    assert peers == [((("commonName", "danbao-admin"),),)]
