"""Back-pressure: a burst of commands is absorbed (lag grows, then drains) without errors and
within the memory bound (``ops/burst.py``; `make chaos` runs 20 000)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ops.burst import RSS_GROWTH_BOUND_MIB, UNBOUNDED, BurstReport, burst, report_table
from ops.platform import LocalPlatform
from tests.integration.conftest import running_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sqlite_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with running_platform("sqlite", tmp_path_factory.mktemp("burst")) as running:
        yield running


@pytest.fixture(scope="module")
def report(sqlite_platform: LocalPlatform) -> BurstReport:
    return asyncio.run(burst(sqlite_platform, 1500, timeout=60))


def test_every_command_is_handled_and_the_lag_drains(report: BurstReport) -> None:
    assert (report.commands, report.send_errors) == (1500, 0)
    assert report.drained, f"created {report.created_seen}/{report.orders}, held {report.holds_seen}/{report.pays}"
    assert report.created_seen == report.orders > report.pays == report.holds_seen > 0
    peak, _ = report.peak_lag
    assert peak > 0, "the committed offsets never fell behind the command topic: the lag is not measured"
    assert report.samples[-1].command_lag == 0
    assert report.settle_seconds is not None and not any(report.final_lag.values()), report.final_lag


def test_nothing_is_dead_lettered_rejected_or_lost(report: BurstReport) -> None:
    assert report.dead_letters == {} and report.rejections == {} and report.exited == []


def test_memory_grows_within_the_bound(report: BurstReport) -> None:
    assert report.idle_rss and report.within_bound, report.growth
    assert all(0 <= g <= RSS_GROWTH_BOUND_MIB for name, g in report.growth.items() if name not in UNBOUNDED)
    assert report.ok and len(report_table(report)) == 2
