"""Boundaries the design fixes: no service imports another, nor the simulators; shared imports no service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["onboarding", "payments", "escrow", "disputes", "notifications"]


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
