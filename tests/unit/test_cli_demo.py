"""`danbao demo …` prints each scenario's timeline, balances and facts, and refuses an unknown scenario."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from ops import demo, demo_collection
from ops.cli import app
from ops.demo import Outcome


async def _outcomes(bootstrap: str, names: list[str] | None = None, step: Any = None) -> list[Outcome]:
    if step is not None:  # the scenarios' progress
        step.update(len(names or ["walk-in"]))
        step.done()
    return [Outcome(name, f"Scenario {name}", f"CODE-{name}", f"O-{name}",
                    timeline=[("10:00:00", "payments.collection.redeemed", "amount=¥88.00")],
                    balances={"merchant_available:M-1001": -8747} if name == "lost-parcel" else {},
                    facts={"net": 8747}) for name in names or ["walk-in"]]


@pytest.mark.parametrize(("group", "module", "scenario"), [("collection", demo_collection, "walk-in"),
                                                           ("disputes", demo, "lost-parcel")])
def test_a_demo_prints_its_scenarios_and_refuses_unknown_ones(monkeypatch: pytest.MonkeyPatch, group: str, module: Any,
                                                              scenario: str) -> None:
    monkeypatch.setattr(module, "run", _outcomes)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["demo", group, scenario])
    assert result.exit_code == 0, result.output
    assert f"Scenario {scenario}" in result.output and "payments.collection.redeemed" in result.output
    assert "'net': 8747" in result.output
    assert "scenarios: done 1/1 in " in result.output
    assert ("merchant_available:M-1001" in result.output) is (scenario == "lost-parcel")
    refused = CliRunner().invoke(app, ["demo", group, "no-such-scenario"])
    assert refused.exit_code == 2 and "unknown scenario 'no-such-scenario'" in refused.output
