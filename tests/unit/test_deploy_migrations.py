"""The deploy files run the schema migrations before the services (tests/unit/test_deploy.py checks the rest):
a Kubernetes Job and a Compose one-shot run `danbao db upgrade --all` with the database URLs alone, the services
do not upgrade at start-up, and the package the image installs carries every revision."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages
from typer.testing import CliRunner

from ops.cli import app
from shared.settings import PlatformSettings
from tests.unit.test_deploy import ROOT, SERVICES, _by_kind, _compose, _manifests

UPGRADE = ["danbao", "db", "upgrade", "--all"]
OWNERS = [*SERVICES, "web"]  # the web edge has a database and migrations of its own too
URL_FILES = {f"danbao_{s}_database_url" for s in OWNERS}


def test_kubernetes_runs_the_upgrade_as_a_job_with_the_database_urls_alone() -> None:
    (job,) = [d for d in _manifests() if d["kind"] == "Job" and d["spec"]["template"]["spec"]["containers"][0].get("command") == UPGRADE]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "danbao:latest" and pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    items = {item["key"]: item["path"] for item in volumes["secrets"]["secret"]["items"]}
    assert items == {f"{s}-database-url": f"danbao_{s}_database_url" for s in OWNERS}  # no Kafka password, no other secret
    assert not container.get("envFrom") and not container.get("env")  # no broker: production mode and the secrets dir come from the image
    deployments = _by_kind("Deployment")
    for name in OWNERS:  # the keys the Job reads are the ones each service reads
        volumes = {v["name"]: v for v in deployments[name]["spec"]["template"]["spec"]["volumes"]}
        assert {item["key"]: item["path"] for item in volumes["secrets"]["secret"]["items"]}[f"{name}-database-url"] == items[f"{name}-database-url"]


def test_compose_runs_the_upgrade_once_before_the_services_and_not_before_the_simulators() -> None:
    compose = _compose()["services"]
    upgrade = compose["db-upgrade"]
    assert upgrade["image"] == "danbao:latest" and upgrade["entrypoint"] == UPGRADE and upgrade["restart"] == "no"
    assert set(upgrade["secrets"]) == URL_FILES
    assert upgrade["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert upgrade["environment"]["DANBAO_MODE"] == "production"
    for name in OWNERS:
        assert compose[name]["depends_on"]["db-upgrade"]["condition"] == "service_completed_successfully", name
    for name, service in compose.items():
        if name.endswith("-simulator"):
            assert "db-upgrade" not in (service.get("depends_on") or {}), name


def test_the_services_in_the_deploy_files_do_not_upgrade_their_databases_themselves() -> None:
    config = _by_kind("ConfigMap")["danbao-config"]["data"]
    compose = _compose()["services"]
    for environment in [config, *(compose[name]["environment"] for name in OWNERS)]:
        settings = PlatformSettings(mode=environment["DANBAO_MODE"], db_upgrade_at_start=environment["DANBAO_DB_UPGRADE_AT_START"])
        assert not settings.upgrades_db_at_start


def test_the_image_installs_every_services_revisions_and_the_revision_template() -> None:
    """The Dockerfile installs the package (`pip install .`): the revisions must be in it."""
    packages = find_packages(str(ROOT), include=["shared*", "services*", "ops*"])
    assert "shared.migrations" in packages
    for service in OWNERS:
        assert f"services.{service}.migrations" in packages
        assert sorted(p.name for p in (ROOT / "services" / service / "migrations").glob("0001_*.py"))
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "script.py.mako" in package_data["shared.migrations"]
    assert (ROOT / "shared" / "migrations" / "script.py.mako").exists()
    assert "alembic" in {d.split("==")[0] for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}


def test_the_upgrade_job_refuses_to_stand_a_sqlite_file_in_for_a_missing_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Production mode with a database URL missing (a Secret key forgotten): it says which, and upgrades nothing."""
    monkeypatch.setenv("DANBAO_MODE", "production")
    monkeypatch.setenv("DANBAO_DATA_DIR", str(tmp_path))
    for service in OWNERS:
        monkeypatch.delenv(f"DANBAO_{service.upper()}_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["db", "upgrade", "--all"])
    assert result.exit_code == 1
    assert "DANBAO_ONBOARDING_DATABASE_URL is not set" in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []
