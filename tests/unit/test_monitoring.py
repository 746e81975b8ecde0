"""deploy/monitoring: the Prometheus configuration, its alert rules and the Grafana dashboard. promtool is not
available here, so the rule file's structure is checked, and every metric an alert or a panel uses must be
one a process really serves on /metrics."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from ops.docs import SERVICE_APPS
from shared.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
METRIC = re.compile(r"\b(?:danbao|faststream)_[a-z0-9_]+\b")
DURATION = re.compile(r"^\d+[smhdwy]$")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count", "_created"), "summary": ("_sum", "_count", "_created")}


def _families(text: str) -> set[str]:
    """Every series name a /metrics answer can carry: the declared families (with their histogram series)
    and the samples present."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            names.update(name + suffix for suffix in SUFFIXES.get(kind, ()))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


async def _scrape(apps: list[object]) -> list[str]:
    texts = []
    for app in apps:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://danbao") as client:  # type: ignore[arg-type]
            answer = await client.get("/metrics")
            assert answer.status_code == 200
            texts.append(answer.text)
    return texts


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What the five services, the simulators and the web edge serve on /metrics."""
    from services.simulators import bank, insurer, messaging, psp, registry

    apps: list[object] = [importlib.import_module(path).build(platform=PlatformSettings(data_dir=tmp_path_factory.mktemp(name))).asgi()
                          for name, path in SERVICE_APPS.items()]
    apps += [module.build()[0] for module in (psp, bank, registry, insurer)]
    apps.append(messaging.MessagingSimulator(messaging.MessagingSimulatorSettings(), "127.0.0.1"))
    from services.web.app import build as web

    apps.append(web(platform=PlatformSettings(data_dir=tmp_path_factory.mktemp("web"))).app(start_runtime=False))
    names: set[str] = set()
    for text in asyncio.run(_scrape(apps)):
        names |= _families(text)
    return names


def _rules() -> list[dict]:
    document = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    assert set(document) == {"groups"} and document["groups"]
    rules = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"]
        rules += group["rules"]
    return rules


def _balanced(expr: str) -> bool:
    depth = {"(": 0, "{": 0, "[": 0}
    closing = {")": "(", "}": "{", "]": "["}
    for char in re.sub(r'"[^"]*"', "", expr):
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                return False
    return not any(depth.values())


def test_the_alert_rules_are_well_formed() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names are unique"
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-")
               for heading in re.findall(r"^#+ (.+)$", runbook, re.M)}
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Danbao[A-Z][A-Za-z]+", rule["alert"])
        assert isinstance(rule["expr"], str) and _balanced(rule["expr"]), rule["alert"]
        assert METRIC.search(rule["expr"]), f"{rule['alert']} uses no Danbao metric"
        assert "for" not in rule or DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/runbook.md" and anchor in anchors, rule["annotations"]["runbook_url"]
        assert f"`{rule['alert']}`" in runbook, f"the runbook explains {rule['alert']}"


def test_every_metric_an_alert_or_a_panel_uses_is_one_the_code_exports(exported: set[str]) -> None:
    used = {rule["alert"]: set(METRIC.findall(rule["expr"])) for rule in _rules()}
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        used[panel["title"]] = {m for target in panel["targets"] for m in METRIC.findall(target["expr"])}
        assert used[panel["title"]], f"panel {panel['title']} shows no Danbao metric"
    unknown = {where: sorted(names - exported) for where, names in used.items() if names - exported}
    assert unknown == {}


def test_lag_dead_letters_outbox_parked_messages_and_the_trial_balance_are_alerted_and_shown() -> None:
    alerted = " ".join(rule["expr"] for rule in _rules())
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    shown = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])
    for metric in ("danbao_consumer_lag", "danbao_consumer_failed_batches_total", "danbao_dead_letters",
                   "danbao_outbox_backlog", "danbao_parked_messages", "danbao_ledger_imbalance"):
        assert metric in alerted and metric in shown, metric


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_datasource() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    (variable,) = dashboard["templating"]["list"]
    assert variable == {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"} and panel["datasource"]["uid"] == "${datasource}"
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["targets"]
        assert all(_balanced(target["expr"]) for target in panel["targets"])


def test_prometheus_scrapes_the_annotated_pods_labels_them_by_service_and_loads_the_rules() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yaml").read_text())
    assert config["rule_files"] == ["alerts.yaml"]
    (job,) = config["scrape_configs"]
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"service", "pod", "__address__", "__metrics_path__"} <= targets
    by_service = next(r for r in job["relabel_configs"] if r.get("target_label") == "service")
    assert by_service["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    # The label it reads and the annotations it keeps are on every Deployment's pods.
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Deployment":
                pod = doc["spec"]["template"]["metadata"]
                assert pod["labels"]["app.kubernetes.io/name"] == doc["metadata"]["name"]
                assert pod["annotations"]["prometheus.io/scrape"] == "true"
                assert pod["annotations"]["prometheus.io/path"] == "/metrics"
    # Alerts group by labels the series have: the metrics' own (group, year) or the scrape's (service).
    for rule in _rules():
        for labels in re.findall(r"by \(([^)]*)\)", rule["expr"]):
            assert {label.strip() for label in labels.split(",")} <= {"group", "service", "year", "topic", "partition"}
