"""The deploy files, checked without a Docker engine: lint, schema validation and cross-checks
against the code (service names, health paths, port, image, secrets)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from ops import acl, issuers
from ops.docs import SERVICE_APPS
from ops.kafka_secrets import write_compose_files
from ops.platform import SIMULATORS
from services.payments.app import build

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = sorted(SERVICE_APPS)
SECRET_WORDS = re.compile(r"(SECRET|PASSWORD|DATABASE_URL|TOKEN|_KEY)$", re.IGNORECASE)
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is a dev dependency (pip install -e .[dev])"
    return found


def test_the_services_serve_the_health_paths_the_deploy_files_probe(tmp_path: Path) -> None:
    from shared.settings import PlatformSettings

    app = build(platform=PlatformSettings(data_dir=tmp_path)).asgi()
    paths = {path for path, _ in app.routes}
    assert {"/health/live", "/health/ready", "/metrics"} <= paths


def test_the_dockerfile_is_multi_stage_non_root_and_checks_readiness() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in text and "127.0.0.1:8080/health/ready" in text
    assert 'ENTRYPOINT ["danbao", "serve"]' in text
    assert "DANBAO_HTTP_PORT=8080" in text
    result = subprocess.run([_tool("hadolint"), str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_every_service_from_one_image_with_health_and_order() -> None:
    compose = _compose()["services"]
    assert set(SERVICES) | set(SIMULATORS) | {"mailpit", "kafka", "postgres", "topics"} <= set(compose)
    assert "KAFKA_PROCESS_ROLES" in compose["kafka"]["environment"]  # KRaft, no ZooKeeper
    for name in [*SERVICES, *SIMULATORS]:
        service = compose[name]
        assert service["image"] == "danbao:latest"
        assert service["command"] == [name]
        assert "/health/ready" in " ".join(service["healthcheck"]["test"]) and "8080" in " ".join(service["healthcheck"]["test"])
        if name == "messaging-simulator":
            continue  # talks to no broker and no database
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        if name in SERVICES:
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
            assert f"danbao_{name}_database_url" in service["secrets"]


def test_compose_keeps_no_secret_in_plain_config() -> None:
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            assert not SECRET_WORDS.search(key) or str(key).endswith("_FILE"), f"{name}: {key}={value} belongs in a secret"


def test_docker_compose_accepts_the_file() -> None:
    result = subprocess.run([_tool("docker-compose"), "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _manifests() -> list[dict]:
    docs: list[dict] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_has_a_deployment_and_service_per_service_with_real_probes() -> None:
    docs = _manifests()
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert set(SERVICES) <= set(deployments) and set(SERVICES) <= set(services)
    for name in SERVICES:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "danbao:latest" and container["args"] == [name]
        assert container["ports"] == [{"name": "http", "containerPort": 8080}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
        assert {"configMapRef": {"name": "danbao-config"}} in container["envFrom"]
        assert not container.get("env"), "settings come from the ConfigMap, secrets from the Secret"
        volumes = {v["name"]: v for v in deployments[name]["spec"]["template"]["spec"]["volumes"]}
        keys = [item["path"] for item in volumes["secrets"]["secret"]["items"]]
        assert f"danbao_{name}_database_url" in keys
        assert services[name]["spec"]["ports"][0]["targetPort"] == "http"
    assert any(d["kind"] == "Job" and "topics" in d["spec"]["template"]["spec"]["containers"][0]["command"] for d in docs)



def test_every_deployment_probes_liveness_from_its_first_second_with_a_startup_probe_for_its_boot() -> None:
    """/health/live answers from the process's first second, also while it waits for the broker
    (tests/unit/test_probes.py): the start-up probe gives the boot a minute, liveness takes over after."""
    deployments = {d["metadata"]["name"]: d for d in _manifests() if d["kind"] == "Deployment"}
    assert set(SERVICES) | {"web"} <= set(deployments)
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        startup = container["startupProbe"]
        assert startup["httpGet"] == {"path": "/health/live", "port": "http"}, name
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, name
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}, name
        assert "initialDelaySeconds" not in container["livenessProbe"], name
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}, name


def test_kubernetes_config_holds_no_secret() -> None:
    for doc in _manifests():
        assert doc["kind"] != "Secret", "secret values are never committed"
        if doc["kind"] == "ConfigMap":
            assert not [k for k in doc["data"] if SECRET_WORDS.search(k)]


def test_the_manifests_validate_against_the_kubernetes_schemas() -> None:
    files = [str(p) for p in sorted((DEPLOY / "k8s").glob("*.yaml"))]
    result = subprocess.run([_tool("kubernetes-validate"), "--strict", "--quiet", *files],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("target", ["compose-up", "compose-secrets"])
def test_the_makefile_offers_compose_targets(target: str) -> None:
    assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), re.M)


def _secret_files() -> dict[str, set[str]]:
    """For each service, the secret file names its settings read (``DANBAO_X_Y`` -> ``danbao_x_y``)."""
    import importlib

    from services.simulators.bank import BankSimulatorSettings
    from services.simulators.insurer import InsurerSimulatorSettings
    from services.simulators.messaging import MessagingSimulatorSettings
    from services.simulators.psp import PspSimulatorSettings
    from services.simulators.registry import RegistrySimulatorSettings

    out = {}
    for name in SERVICES:
        config = importlib.import_module(f"services.{name}.config")
        settings_class = next(v for k, v in vars(config).items() if k.endswith("Settings") and getattr(v, "__module__", "") == config.__name__)
        out[name] = {n.lower() for n in settings_class().secrets()}
    out["psp-simulator"] = {n.lower() for n in PspSimulatorSettings().secrets()}
    out["bank-simulator"] = {n.lower() for n in BankSimulatorSettings().secrets()}
    out["registry-simulator"] = {n.lower() for n in RegistrySimulatorSettings().secrets()}
    out["messaging-simulator"] = {n.lower() for n in MessagingSimulatorSettings().secrets()}
    out["insurer-simulator"] = {n.lower() for n in InsurerSimulatorSettings().secrets()}
    return out


def _secrets_the_makefile_writes() -> set[str]:
    """The files under deploy/secrets/ that `make compose-secrets` writes, its shell loops expanded."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    written: set[str] = set()
    for line in makefile.splitlines():
        targets = re.findall(r"deploy/secrets/([\w$.{}]+)", line)
        loop = re.search(r"for s in ([^;]+);", line)
        for target in targets:
            for value in loop.group(1).split() if loop else [""]:
                written.add(target.replace("$${s}", value).replace("$$s", value))
    if "-m ops.kafka_secrets deploy/secrets" in makefile:
        written |= KAFKA_SECRET_FILES
    if "-m ops.issuers deploy/secrets" in makefile:
        written |= {path.name for path in issuers.write(Path(tempfile.mkdtemp()))}
    return written


def test_make_compose_secrets_writes_every_secret_compose_mounts() -> None:
    written = _secrets_the_makefile_writes()
    for secret in _compose()["secrets"].values():
        assert secret["file"].removeprefix("./secrets/") in written, f"make compose-secrets never writes {secret['file']}"


def test_every_secret_a_service_reads_is_mounted_in_compose_and_kubernetes() -> None:
    compose = _compose()["services"]
    deployments = {d["metadata"]["name"]: d for d in _manifests() if d["kind"] == "Deployment"}
    for name, files in _secret_files().items():
        mounted = {s if isinstance(s, str) else s.get("target", s["source"]) for s in compose[name].get("secrets", [])}
        assert files <= mounted, f"compose {name} lacks {files - mounted}"
        if name in deployments:
            volumes = {v["name"]: v for v in deployments[name]["spec"]["template"]["spec"]["volumes"]}
            paths = {item["path"] for item in volumes["secrets"]["secret"]["items"]}
            assert files <= paths, f"k8s {name} lacks {files - paths}"


def _kafka_secret_files() -> set[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        return {p.name for p in write_compose_files(Path(scratch))}


KAFKA_SECRET_FILES = _kafka_secret_files()
PRINCIPAL_OF = {p.process: p.name for p in acl.principals() if p.process}  # the processes Danbao runs
def _compose_env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def _by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _manifests() if d["kind"] == kind}


def test_the_web_edge_is_deployed_with_its_issuer_keys_secrets_and_probes(tmp_path: Path) -> None:
    """The cashier and console run from the same image, read their secrets as files, sign with the buyer app's and
    the operator console's private keys, and are probed like every service."""
    from services.web.app import build as build_web
    from services.web.config import WebSettings
    from shared.settings import PlatformSettings

    paths = {route.path for route in build_web(platform=PlatformSettings(data_dir=tmp_path)).app(start_runtime=False).routes}
    assert {"/health/live", "/health/ready", "/metrics", "/c/{token}", "/console"} <= paths
    files = {name.lower() for name in WebSettings().secrets()} | {"danbao_web_database_url", "danbao_issuer_buyer-app.json",
                                                                   "danbao_issuer_operator-console.json"}
    web = _compose()["services"]["web"]
    env = _compose_env(web)
    assert web["command"] == ["web"] and web["image"] == "danbao:latest" and env["DANBAO_MODE"] == "production"
    assert env["DANBAO_WEB_BUYER_KEY_FILE"] == "/run/secrets/danbao_issuer_buyer-app.json"
    assert env["DANBAO_WEB_CONSOLE_KEY_FILE"] == "/run/secrets/danbao_issuer_operator-console.json"
    assert env["DANBAO_WEB_OIDC_METADATA_URL"].startswith("${DANBAO_WEB_OIDC_METADATA_URL:-https://")
    assert files <= {s if isinstance(s, str) else s.get("target", s["source"]) for s in web["secrets"]}
    assert "/health/ready" in " ".join(web["healthcheck"]["test"])
    assert _compose_env(_compose()["services"]["payments"])["DANBAO_PAYMENTS_PAY_BASE_URL"] == "http://127.0.0.1:8120/c"
    assert "web" in (DEPLOY / "postgres-init.sh").read_text()
    (container,) = _by_kind("Deployment")["web"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["web"] and container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert [e["configMapRef"]["name"] for e in container["envFrom"]] == ["danbao-config", "web-kafka", "web-config"]
    assert _by_kind("ConfigMap")["web-kafka"]["data"]["DANBAO_KAFKA_SASL_USERNAME"] == PRINCIPAL_OF["web"] == acl.WEB
    config = _by_kind("ConfigMap")["web-config"]["data"]
    assert config["DANBAO_WEB_OIDC_METADATA_URL"] and config["DANBAO_WEB_BUYER_KEY_FILE"].endswith("danbao_issuer_buyer-app.json")
    volumes = {v["name"]: v for v in _by_kind("Deployment")["web"]["spec"]["template"]["spec"]["volumes"]}
    items = {item["path"] for item in volumes["secrets"]["secret"]["items"]}
    assert files | {"kafka_ca.pem", "danbao_kafka_sasl_password"} <= items
    assert _by_kind("Service")["web"]["spec"]["ports"][0]["targetPort"] == "http"


def test_every_service_reads_the_calendar_override_file_the_deploy_files_ship() -> None:
    from shared.calendar_overrides import parse_overrides

    shipped = (DEPLOY / "calendar-overrides.toml").read_text()
    parse_overrides(shipped)  # a malformed file would stop every service at start-up
    manifests = _manifests()
    config = next(d for d in manifests if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "danbao-config")["data"]
    calendar = next(d for d in manifests if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "danbao-calendar")["data"]
    assert calendar["calendar-overrides.toml"] == shipped
    path = Path(config["DANBAO_CALENDAR_OVERRIDES_FILE"])
    deployments = {d["metadata"]["name"]: d for d in manifests if d["kind"] == "Deployment"}
    for name in SERVICES:
        pod = deployments[name]["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["calendar"]["configMap"]["name"] == "danbao-calendar", name
        assert Path(mounts["calendar"]) / "calendar-overrides.toml" == path, name
    compose = _compose()
    assert compose["configs"]["calendar"]["file"] == "./calendar-overrides.toml"
    for name in SERVICES:
        service = compose["services"][name]
        target = next(c["target"] for c in service["configs"] if c["source"] == "calendar")
        assert service["environment"]["DANBAO_CALENDAR_OVERRIDES_FILE"] == target, name
