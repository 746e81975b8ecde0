"""`make bench`: guaranteed-trade lifecycles through the real processes, beside the raw broker and the stack's ceiling.

One run, on a fresh platform: a warm-up of 20 lifecycles; a latency run at a fixed rate ("fresh"); each process's
CPU while idle; lifecycles at full speed; back to idle; the latency run again ("after full speed"); the raw aiokafka
produce → consume baseline on the same broker; then the same lifecycles through the ceiling's stand-ins (``ops.ceiling``),
on a fresh broker of their own and with the same history: the warm-up, the latency run at the same rate, then full
speed. It prints lifecycles/s and events/s, the CPU per process (at full speed and during each latency run),
p50/p95/p99 latency per step for both latency runs and the stand-ins' one, the cost of checking a command token, and
the platform ÷ ceiling ratios; ``--json FILE`` writes the same figures (``ops.bench_report``), and ``--runs N``
repeats the whole run N times and adds the spread of the headline figures.

The driver is ``ops.bench_driver``, the CPU and baseline measurements ``ops.bench_measure``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from ops.bench_driver import Driver
from ops.bench_measure import (FullSpeed, RateRun, full_speed, platform_pids, rate_run, raw_baseline, settle,
                               token_verification_us, warm_up)
from ops.bench_report import (PlatformRun, ceiling_report, git_commit, platform_report, run_figures, spread,
                              spread_table, write_json)
from ops.ceiling import CeilingPlatform
from ops.cli_common import console as progress_console
from ops.pg import drop_database, service_databases
from ops.platform import DEV_PARTITIONS, SERVICES, LocalPlatform
from ops.progress import Board


async def latency_run(driver: Driver, rate: float, seconds: float, pids: dict[str, int], board: Board, label: str) -> RateRun:
    """``rate × seconds`` lifecycles started at ``rate`` per second, each step timed (``ops.bench_driver.latencies``),
    and each process's CPU meanwhile."""
    return await rate_run(driver, rate, seconds, pids, board.step(f"{label} at {rate:.0f} lifecycles/s", int(rate * seconds)))


async def bench(count: int, rate: float, rate_seconds: float, raw_n: int, platform: LocalPlatform,
                board: Board | None = None, what: str = "platform") -> PlatformRun:
    """One run's measurements on ``platform`` (started, fresh), in the order the module's docstring gives."""
    board = board or Board(Console(quiet=True))
    assert platform.broker is not None
    bootstrap = platform.broker.bootstrap
    pids = platform_pids(platform)
    driver = Driver(bootstrap)
    await driver.start()
    try:
        await warm_up(driver, board, what)
        fresh = await latency_run(driver, rate, rate_seconds, pids, board, f"{what}: latency run on the fresh platform")
        run = await full_speed(driver, count, pids, board=board, what=what, warm=False)
        settling = board.step(f"{what}: back to idle CPU")
        await settle(pids, run.idle_total, run.idle_elapsed)
        settling.done()
        after = await latency_run(driver, rate, rate_seconds, pids, board, f"{what}: latency run after full speed")
    finally:
        await driver.stop()
    raw = board.step(f"{what}: raw aiokafka baseline ({raw_n:,} messages)")
    produce, consume = await raw_baseline(bootstrap, raw_n)
    raw.done()
    tokens = token_verification_us()
    store = "postgres" if "DANBAO_PAYMENTS_DATABASE_URL" in platform.extra_env else "sqlite"
    return PlatformRun(count, rate, rate_seconds, platform.partitions, store, run, fresh, after, produce, consume, tokens)


async def ceiling(count: int, rate: float, rate_seconds: float, stand_ins: CeilingPlatform, board: Board | None = None,
                  what: str = "ceiling") -> tuple[FullSpeed, RateRun]:
    """The same lifecycles through the stand-ins that do no domain work (``ops.ceiling``), with the platform's history
    before its full-speed run: the warm-up, then the fresh latency run's lifecycles at its rate (timed too: the
    stack's own latency). Tansu's work per fetch grows with the batches a partition holds, so a ceiling measured on an
    empty broker would be measured on a lighter one than the platform's."""
    assert stand_ins.broker is not None
    board = board or Board(Console(quiet=True))
    driver = Driver(stand_ins.broker.bootstrap)
    await driver.start()
    pids = {**stand_ins.pids(), "bench driver": os.getpid()}
    try:
        await warm_up(driver, board, what)
        history = await latency_run(driver, rate, rate_seconds, pids, board, f"{what}: latency run on the fresh stand-ins")
        return await full_speed(driver, count, pids, board=board, what=what, warm=False), history
    except RuntimeError as exc:
        raise RuntimeError(f"ceiling run: {exc}\n{stand_ins.logs()}") from None
    finally:
        await driver.stop()


def run_once(count: int, rate: float, rate_seconds: float, raw_n: int, partitions: int, with_ceiling: bool,
             postgres: str | None, board: Board, label: str = "",
             checkout: tuple[str | None, bool | None] | None = None) -> dict[str, Any]:
    """One whole run on a fresh platform (and fresh stand-ins): prints its tables, returns its figures."""
    console = Console()
    # The checkout as the bench found it (``main`` reads it before the first run: its ``--json`` file may be tracked).
    started, (commit, dirty) = datetime.now(UTC), checkout or git_commit()

    def figures(ceiling_run: FullSpeed | None, ceiling_history: RateRun | None = None) -> dict[str, Any]:
        return run_figures(platform_run, ceiling_run, os.cpu_count(), commit, dirty, started, ceiling_history)

    with tempfile.TemporaryDirectory(prefix="danbao-bench-") as scratch:
        databases = asyncio.run(service_databases(postgres, SERVICES, "danbao_bench")) if postgres else {}
        platform = LocalPlatform(data_dir=Path(scratch), extra_env={"DANBAO_MODE": "test", "DANBAO_LOG_LEVEL": "WARNING",
                                                                    **databases}, partitions=partitions)
        starting = board.step(f"{label}starting a fresh platform on {'PostgreSQL' if postgres else 'SQLite files'}")
        try:
            platform.start(ready_timeout=90)
            starting.done()
            platform_run = asyncio.run(bench(count, rate, rate_seconds, raw_n, platform, board, f"{label}platform"))
        finally:
            platform.stop()
            for url in databases.values():
                asyncio.run(drop_database(postgres, url))  # type: ignore[arg-type]
        for part in platform_report(figures(None)):
            console.print(part)  # as soon as they are known, before the ceiling's run
        if not with_ceiling:
            return figures(None)
        stand_ins = CeilingPlatform(Path(scratch) / "ceiling", partitions)
        starting = board.step(f"{label}starting the ceiling's stand-ins")
        stand_ins.start()
        starting.done()
        try:
            ceiling_run, ceiling_history = asyncio.run(ceiling(count, rate, rate_seconds, stand_ins, board, f"{label}ceiling"))
        finally:
            stand_ins.stop()
    result = figures(ceiling_run, ceiling_history)
    for part in ceiling_report(result):
        console.print(part)
    return result


def main(count: int = 3000, rate: float = 100, rate_seconds: float = 20, raw_n: int = 50_000, partitions: int = DEV_PARTITIONS,
         with_ceiling: bool = True, postgres: str | None = None, runs: int = 1, json_path: Path | None = None) -> list[dict[str, Any]]:
    """``runs`` whole runs, each on a fresh platform, then (for more than one) the spread of the headline figures.
    ``postgres``: a PostgreSQL server URL; the services then keep their data in fresh databases there (dropped
    after each run) instead of SQLite files, as in production. ``json_path``: the figures are written there as
    ``{"runs": [...], "spread": {...}}`` after every run (``ops.bench_report.document``)."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    done: list[dict[str, Any]] = []
    checkout = git_commit()  # before the first run writes ``json_path``, which may be a tracked file
    with Board(progress_console) as board:
        for n in range(1, runs + 1):
            label = f"run {n}/{runs}: " if runs > 1 else ""
            whole = board.step(f"run {n}/{runs}") if runs > 1 else None
            done.append(run_once(count, rate, rate_seconds, raw_n, partitions, with_ceiling, postgres, board, label, checkout))
            if whole is not None:
                whole.done()
            if json_path is not None:
                write_json(json_path, done)
    if runs > 1:
        Console().print(spread_table(spread(done), runs))
    if json_path is not None:
        progress_console.print(f"figures written to {json_path}", highlight=False, markup=False)
    return done
