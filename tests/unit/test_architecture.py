"""Boundaries the design fixes: no service imports another, nor the simulators; shared imports no service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["onboarding", "payments", "escrow", "disputes", "notifications", "web"]  # web: the edge people use


def _imports(folder: Path) -> set[tuple[str, str]]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module))
            elif isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), alias.name) for alias in node.names}
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service_and_no_simulator(service: str) -> None:
    others = [s for s in SERVICES if s != service] + ["simulators"]
    bad = [(f, m) for f, m in _imports(ROOT / "services" / service)
           if any(m == f"services.{o}" or m.startswith(f"services.{o}.") for o in others)]
    assert bad == []


def test_no_service_imports_the_operator_tools() -> None:
    bad = [(f, m) for f, m in _imports(ROOT / "services") if m == "ops" or m.startswith("ops.")]
    assert bad == []


def test_shared_imports_no_service_and_no_ops() -> None:
    bad = [(f, m) for f, m in _imports(ROOT / "shared") if m.startswith(("services", "ops"))]
    assert bad == []


def test_domain_modules_do_no_io() -> None:
    forbidden = ("sqlmodel", "sqlalchemy", "faststream", "aiokafka", "shared.db", "shared.settings", "asyncio")
    for service in SERVICES:
        domain = ROOT / "services" / service / "domain.py"
        if domain.exists():
            bad = [
                m for f, m in _imports(domain.parent) if f.endswith("domain.py") and m.startswith(forbidden)]
            assert bad == [], f"{service}/domain.py imports {bad}"


# -- every Kafka client goes through shared.kafka_security ------------------------------------

AIOKAFKA_CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}


def _client_constructions() -> list[tuple[str, int, ast.Call]]:
    """Every call that builds a Kafka client in the platform's code (services, shared, ops)."""
    found = []
    for folder in ("shared", "services", "ops"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                    if name in AIOKAFKA_CLIENTS | {"KafkaBroker"}:
                        found.append((f"{path.relative_to(ROOT)}:{node.lineno}", name, node))
    return found


def _calls(node: ast.AST | None, function: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == function


def test_every_kafka_client_takes_the_shared_security_settings() -> None:
    """An aiokafka client passes ``**aiokafka_options(...)``, a FastStream broker ``security=faststream_security(...)``:
    so DANBAO_KAFKA_SECURITY_PROTOCOL, the SASL user and the CA reach every connection the platform opens."""
    constructions = _client_constructions()
    missing = []
    for where, name, call in constructions:
        if name == "KafkaBroker":
            ok = any(k.arg == "security" and _calls(k.value, "faststream_security") for k in call.keywords)
        else:
            ok = any(k.arg is None and _calls(k.value, "aiokafka_options") for k in call.keywords)
        if not ok:
            missing.append(f"{where} {name}")
    assert missing == []
    files = {where.split(":")[0] for where, _, _ in constructions}
    assert {"shared/runtime.py", "services/simulators/common.py", "ops/kafka.py", "ops/broker.py", "ops/bench_driver.py", "ops/bench_measure.py",
            "ops/demo.py", "ops/chaos_lifecycles.py", "ops/burst.py", "ops/audit/reading.py", "ops/ceiling.py"} <= files
    assert len(constructions) >= 18
