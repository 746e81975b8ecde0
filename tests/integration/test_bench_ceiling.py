"""The bench's ceiling: the stand-ins carry the bench driver's lifecycles through a real broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.bench import ceiling
from ops.bench_driver import STEPS, latencies
from ops.ceiling import CeilingPlatform
from tests.conftest import BACKENDS, POSTGRES_URL

pytestmark = pytest.mark.integration


def test_the_stand_ins_complete_the_drivers_lifecycles_and_their_cpu_is_measured(tmp_path: Path) -> None:
    stand_ins = CeilingPlatform(tmp_path, partitions=1)
    stand_ins.start()
    try:
        assert stand_ins.broker is not None

        # As the platform's: the warm-up, lifecycles at a fixed rate (timed), then full speed.
        run, history = asyncio.run(ceiling(50, 20, 1, stand_ins))
    finally:
        stand_ins.stop()
    assert len(history.lives) == 20 and all(life.done.is_set() for life in history.lives)
    assert all(len(values) == 20 for values in latencies(history.lives).values())  # every step of each was timed
    assert history.cpu["broker (tansu)"] > 0 and "bench driver" in history.cpu
    assert len(run.finished) == 50
    assert set(run.spent) == {"payments", "escrow", "notifications", "psp-simulator", "broker (tansu)", "bench driver"}
    assert run.spent["payments"] > 0 and run.spent["escrow"] > 0
    assert all(p.poll() is not None for p in stand_ins.processes.values())


def _bench(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ops.cli", "bench", *options], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_bench_runs_on_either_store_and_prints_its_figures(backend: str, tmp_path: Path) -> None:
    """`danbao bench --postgres URL` keeps the services' data in fresh PostgreSQL databases, dropped after; `--json FILE`
    writes what the tables print, both latency runs (fresh, after the full-speed run) among it; `--runs N` repeats the
    whole bench on fresh platforms and gives the spread (on SQLite here, so each store costs one test)."""
    store = ["--postgres", POSTGRES_URL] if backend == "postgres" and POSTGRES_URL else []
    runs = 1 if store else 2
    figures = tmp_path / "bench.json"
    result = _bench("--runs", str(runs), "--lifecycles", "40", "--rate", "20", "--seconds", "2", "--no-ceiling",
                    "--json", str(figures), *store)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "40/40 lifecycles" in result.stdout
    assert ("PostgreSQL" if store else "SQLite") in result.stdout
    printed = " ".join(result.stdout.split())  # a table's title wraps to the table's width
    assert "on a fresh platform: latency per step" in printed and "after the full-speed run: latency per step" in printed
    cpu_line = printed[printed.index("CPU during the latency run on a fresh platform, % of one core:"):].split(";")[0]
    assert "broker (tansu)" in cpu_line and "payments" in cpu_line
    for phase in ("warm-up lifecycles", "latency run on the fresh platform", "idle CPU", "lifecycles at full speed",
                  "back to idle CPU", "latency run after full speed", "raw aiokafka baseline"):
        assert f"platform: {phase}" in result.stderr, phase  # the progress, on standard error
    written = json.loads(figures.read_text(encoding="utf-8"))
    assert len(written["runs"]) == runs
    for run in written["runs"]:
        assert run["store"] == ("postgres" if store else "sqlite")
        assert (run["lifecycles_requested"], run["lifecycles_finished"]) == (40, 40) and run["lifecycles_per_s"] > 0
        assert run["ceiling_lifecycles_per_s"] is None and run["ratio"] is None
        for which in ("fresh", "after_full_speed"):
            assert run["latency_lifecycles"][which] == {"started": 40, "completed": 40}
            assert run["latency_cpu"][which]["broker (tansu)"] > 0 and run["latency_cpu"][which]["payments"] > 0
            assert set(run["latency"][which]) == set(STEPS)
            for step, figures_ in run["latency"][which].items():
                assert figures_["n"] > 0 and figures_["p99_ms"] > 0, (which, step)
                assert run["p99_ms"][which][step] == figures_["p99_ms"]
    for name in ("lifecycles_per_s", "cpu_ms_per_lifecycle", "worst_p99_ms/fresh", "worst_p99_ms/after_full_speed"):
        row = written["spread"][name]
        assert row["n"] == runs and row["min"] <= row["median"] <= row["max"], name
    assert written["spread"]["ratio"] == {"min": None, "median": None, "max": None, "n": 0}
    if runs > 1:
        assert "run 1/2: platform: lifecycles at full speed" in result.stderr
        assert "run 2/2: platform: lifecycles at full speed" in result.stderr
        assert "Spread over 2 runs" in result.stdout


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_bench_stopped_by_sigterm_stops_the_platform_it_started() -> None:
    """Where SIGTERM's default action ended the bench at once and left its broker and services running."""
    bench = subprocess.Popen([sys.executable, "-m", "ops.cli", "bench", "--lifecycles", "100000", "--no-ceiling"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
    children: list[int] = []
    try:
        for _ in range(900):  # the broker and ten services, started
            children = _children(bench.pid)
            if len(children) >= 11 or bench.poll() is not None:
                break
            time.sleep(0.1)
        assert len(children) >= 11, children
        time.sleep(3)
        bench.send_signal(signal.SIGTERM)
        bench.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in children if _alive(pid)]
    finally:
        if bench.poll() is None:
            bench.kill()
        for pid in children:  # only what this bench started, by process id
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
