"""The audit report as rich tables, for the CLI."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ops.audit.core import AuditReport
from ops.audit.orders import LIVE_STATES


def render(report: AuditReport, limit: int = 20) -> list[RenderableType]:
    """For the CLI: the checks, the counts, then the first ``limit`` breaches of each check."""
    checks = Table(title="Platform audit")
    checks.add_column("check")
    checks.add_column("checked", justify="right")
    checks.add_column("breaches", justify="right")
    for name, result in report.checks.items():
        checks.add_row(name, str(result.checked), Text(str(len(result.breaches)), style="red" if result.breaches else "green"))
    counts = Table(title="What the events hold")
    counts.add_column("")
    counts.add_column("count", justify="right")
    for state, count in report.orders_by_state.items():
        counts.add_row(f"orders {state}" + (" (live)" if state in LIVE_STATES else ""), str(count))
    for name, count in [*report.counts.items(), ("redelivered", report.redelivered), ("ignored", report.ignored)]:
        counts.add_row(name.replace("_", " "), str(count))
    out: list[RenderableType] = [checks, counts]
    for name, result in report.checks.items():
        out += [Text(f"{name}: {breach}", style="red") for breach in result.breaches[:limit]]
        if len(result.breaches) > limit:
            out.append(Text(f"{name}: … and {len(result.breaches) - limit} more", style="red"))
    out.append(Text(f"{report.breach_count} breaches" if report.breach_count else "no breach",
                    style="bold red" if report.breach_count else "bold green"))
    return out
