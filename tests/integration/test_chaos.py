"""The short chaos run: 100 mixed lifecycles while services are killed (10 SIGKILLs) and every
client's broker connection is cut, then the audit over everything the services published.
`make chaos` is the long run (500 lifecycles, a kill every 3 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.chaos import KINDS, run_chaos
from ops.platform import SERVICES

pytestmark = pytest.mark.integration


def test_a_short_chaos_run_finishes_every_lifecycle_and_the_audit_finds_no_breach(tmp_path: Path) -> None:
    report = run_chaos(count=100, rate=5, kill_every=2.5, cut_every=7, max_kills=10, seed=8, data_dir=tmp_path,
                       wait_timeout=90)

    assert report.stuck == [], report.stuck[:10]
    assert report.completed == report.lifecycles and sum(report.lifecycles.values()) == 100
    assert set(report.lifecycles) == set(KINDS)  # every kind ran
    assert sum(report.kills.values()) == 10 and set(report.kills) <= set(SERVICES)
    assert report.restarts == 10
    assert report.cuts >= 2
    audit = report.audit
    assert audit.ok, [b for check in audit.checks.values() for b in check.breaches][:10]
    assert report.ledger_problems == []  # escrow's own books: trial balance and running balances
    assert report.breaches == 0
    # The audit saw the whole run: every order, in a final state after the clock moved 11 days.
    assert sum(audit.orders_by_state.values()) == 100
    assert set(audit.orders_by_state) <= {"released", "cancelled", "refunded"}, audit.orders_by_state
    assert all(audit.checks[name].checked > 0 for name in ("orders", "holds", "ledger", "refunds", "compensations", "notifications"))
