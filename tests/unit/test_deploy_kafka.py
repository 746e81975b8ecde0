"""The deploy files' broker security, checked without a broker: SASL_SSL only, one principal per process,
ACLs as generated, replication (the rest of the deploy files: test_deploy.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops import acl, issuers
from tests.unit.test_deploy import PRINCIPAL_OF, SERVICES, _by_kind, _compose, _compose_env, _manifests


KAFKA_PROCESSES = sorted(PRINCIPAL_OF)


def _listeners(env: dict) -> dict[str, str]:
    """Listener name -> security protocol, from the broker's protocol map."""
    return dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))


def test_compose_kafka_has_no_plaintext_listener_and_denies_without_an_acl() -> None:
    env = _compose()["services"]["kafka"]["environment"]
    protocols = _listeners(env)
    assert "PLAINTEXT" not in protocols.values() and "SASL_PLAINTEXT" not in protocols.values()
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert protocols[next(n for n, a in advertised.items() if a == "kafka:9092")] == "SASL_SSL"  # the clients' listener
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert set(env["KAFKA_SUPER_USERS"].split(";")) == {"User:CN=kafka", f"User:CN={acl.ADMIN}"}
    for listener in ("INTERNAL", "CONTROLLER"):  # TLS with a client certificate: only the broker and the admin
        assert protocols[listener] == "SSL" and env[f"KAFKA_LISTENER_NAME_{listener}_SSL_CLIENT_AUTH"] == "required"
    assert "CONTROLLER://localhost:" in env["KAFKA_LISTENERS"]
    # One broker: one replica is all it can hold (production: deploy/k8s, 3 and 2).
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == env["KAFKA_MIN_INSYNC_REPLICAS"] == 1
    assert _compose()["services"]["topics"]["environment"]["DANBAO_KAFKA_REPLICATION_FACTOR"] == "1"


def test_compose_gives_every_kafka_process_its_own_principal_over_sasl_ssl() -> None:
    compose = _compose()["services"]
    users = []
    for name in KAFKA_PROCESSES:
        env, service = _compose_env(compose[name]), compose[name]
        assert env["DANBAO_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["DANBAO_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["DANBAO_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["DANBAO_KAFKA_SSL_CA_FILE"] == "/run/secrets/kafka_ca.pem" and "kafka_ca.pem" in service["secrets"]
        assert env["DANBAO_KAFKA_SASL_USERNAME"] == PRINCIPAL_OF[name]
        assert {"source": f"kafka_password_{PRINCIPAL_OF[name]}", "target": "danbao_kafka_sasl_password"} in service["secrets"]
        assert "DANBAO_KAFKA_ALLOW_PLAINTEXT" not in env
        users.append(env["DANBAO_KAFKA_SASL_USERNAME"])
    assert len(users) == len(set(users)) == len(KAFKA_PROCESSES)
    assert "DANBAO_KAFKA_SECURITY_PROTOCOL" not in _compose_env(compose["messaging-simulator"])  # no Kafka client


def test_compose_creates_the_users_and_acls_before_the_topics_and_services() -> None:
    compose = _compose()["services"]
    setup = compose["kafka-setup"]
    assert setup["entrypoint"] == ["/bin/sh", "/etc/danbao-kafka/acls.sh"] and "./kafka:/etc/danbao-kafka:ro" in setup["volumes"]
    assert {f"kafka_password_{p.name}" for p in acl.principals()} <= set(setup["secrets"])
    assert compose["topics"]["depends_on"]["kafka-setup"]["condition"] == "service_completed_successfully"
    assert compose["topics"]["environment"]["DANBAO_KAFKA_SECURITY_PROTOCOL"] == "SSL"  # the admin's certificate


def test_services_in_production_trust_the_deployments_issuers_and_no_development_key(tmp_path: Path) -> None:
    """compose and Kubernetes give every service the trusted-issuers file `make issuer-keys` writes; with it the
    services start in production mode, and a development key in it is refused."""
    from shared.assertions import development_issuers_document
    from shared.authority import trusted_issuers
    from shared.settings import PlatformSettings

    written = issuers.write(tmp_path)
    compose, deployments = _compose()["services"], _by_kind("Deployment")
    for service in SERVICES:
        env = _compose_env(compose[service])
        assert env["DANBAO_TRUSTED_ISSUERS_FILE"] == "/run/secrets/danbao_trusted_issuers.json"
        assert "danbao_trusted_issuers.json" in compose[service]["secrets"]
        volumes = {v["name"]: v for v in deployments[service]["spec"]["template"]["spec"]["volumes"]}
        assert "danbao_trusted_issuers.json" in {item["path"] for item in volumes["secrets"]["secret"]["items"]}
    config = next(d for d in _manifests() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "danbao-config")
    assert config["data"]["DANBAO_TRUSTED_ISSUERS_FILE"] == "/run/secrets/danbao_trusted_issuers.json"
    production = PlatformSettings(mode="production", trusted_issuers_file=tmp_path / "danbao_trusted_issuers.json")
    assert set(trusted_issuers(production)) == {"buyer-app", "merchant-gateway", "operator-console", "admin-console"}
    assert all(p.stat().st_mode & 0o077 == 0 for p in written if p.name.startswith("danbao_issuer_"))  # private keys
    development = tmp_path / "development.json"
    development.write_text(json.dumps(development_issuers_document()))
    with pytest.raises(ValueError, match="development issuer keys are refused"):
        trusted_issuers(PlatformSettings(mode="production", trusted_issuers_file=development))
    with pytest.raises(ValueError, match="must name the trusted issuers"):
        trusted_issuers(PlatformSettings(mode="production"))


def test_compose_settings_are_accepted_by_the_platform(tmp_path: Path) -> None:
    """Each process's environment, with its mounted files, gives SASL_SSL options as its own user."""
    from ops.kafka_secrets import write_compose_files as write
    from shared.kafka_security import aiokafka_options
    from shared.settings import PlatformSettings

    write(tmp_path)
    compose = _compose()["services"]
    for name in KAFKA_PROCESSES:
        env = {k.removeprefix("DANBAO_").lower(): v.replace("/run/secrets/", f"{tmp_path}/")
               for k, v in _compose_env(compose[name]).items() if k.startswith("DANBAO_KAFKA_") or k == "DANBAO_MODE"}
        password = tmp_path / f"kafka_password_{PRINCIPAL_OF[name]}"
        options = aiokafka_options(PlatformSettings(**env, kafka_sasl_password_file=password))
        assert options["security_protocol"] == "SASL_SSL" and options["sasl_plain_username"] == PRINCIPAL_OF[name]


def test_kubernetes_uses_sasl_ssl_and_three_replicas() -> None:
    config = _by_kind("ConfigMap")["danbao-config"]["data"]
    assert config["DANBAO_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and config["DANBAO_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["DANBAO_KAFKA_SSL_CA_FILE"] == "/run/secrets/kafka_ca.pem"
    assert (config["DANBAO_KAFKA_REPLICATION_FACTOR"], config["DANBAO_KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    assert "DANBAO_KAFKA_ALLOW_PLAINTEXT" not in config
    (topics_job,) = [d for d in _manifests() if d["kind"] == "Job" and d["metadata"]["name"] == "danbao-topics"]
    (container,) = topics_job["spec"]["template"]["spec"]["containers"]
    assert {"configMapRef": {"name": "danbao-config"}} in container["envFrom"]  # the 3 and 2 above
    admin = _by_kind("ConfigMap")["danbao-admin-kafka"]["data"]["DANBAO_KAFKA_SASL_USERNAME"]
    assert admin == acl.ADMIN


def test_kubernetes_gives_each_service_its_own_principal_and_password() -> None:
    deployments, config_maps = _by_kind("Deployment"), _by_kind("ConfigMap")
    users = []
    for name in SERVICES:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
        assert refs == ["danbao-config", f"{name}-kafka"]
        user = config_maps[f"{name}-kafka"]["data"]["DANBAO_KAFKA_SASL_USERNAME"]
        assert user == PRINCIPAL_OF[name]
        users.append(user)
        volumes = {v["name"]: v for v in deployments[name]["spec"]["template"]["spec"]["volumes"]}
        items = {item["key"]: item["path"] for item in volumes["secrets"]["secret"]["items"]}
        assert items[f"kafka-password-{user}"] == "danbao_kafka_sasl_password" and items["kafka-ca.crt"] == "kafka_ca.pem"
    assert len(set(users)) == len(SERVICES)
