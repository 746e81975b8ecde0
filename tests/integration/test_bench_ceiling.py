"""The bench's ceiling: the stand-ins carry the bench driver's lifecycles through a real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.bench import Driver, FullSpeed, full_speed
from ops.ceiling import CeilingPlatform
from tests.conftest import BACKENDS, POSTGRES_URL

pytestmark = pytest.mark.integration


def test_the_stand_ins_complete_the_drivers_lifecycles_and_their_cpu_is_measured(tmp_path: Path) -> None:
    stand_ins = CeilingPlatform(tmp_path, partitions=1)
    stand_ins.start()
    try:
        assert stand_ins.broker is not None

        async def drive() -> FullSpeed:
            driver = Driver(stand_ins.broker.bootstrap)
            await driver.start()
            try:
                return await full_speed(driver, 50, stand_ins.pids(), idle_seconds=0.5)
            finally:
                await driver.stop()

        run = asyncio.run(drive())
    finally:
        stand_ins.stop()
    assert len(run.finished) == 50
    assert set(run.spent) == {"payments", "escrow", "notifications", "psp-simulator", "broker (tansu)"}
    assert run.spent["payments"] > 0 and run.spent["escrow"] > 0
    assert all(p.poll() is not None for p in stand_ins.processes.values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_bench_runs_on_either_store_and_prints_its_figures(backend: str) -> None:
    """`danbao bench --postgres URL` keeps the services' data in fresh PostgreSQL databases, dropped after."""
    store = ["--postgres", POSTGRES_URL] if backend == "postgres" and POSTGRES_URL else []
    result = subprocess.run([sys.executable, "-m", "ops.cli", "bench", "--lifecycles", "40", "--rate", "20", "--seconds", "2",
                             "--no-ceiling", *store], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "40/40 lifecycles" in result.stdout
    assert ("PostgreSQL" if store else "SQLite") in result.stdout
