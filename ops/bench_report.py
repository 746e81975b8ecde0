"""The bench's figures: one run's measurements as one JSON-ready object, the tables printed from it, and the
spread (min, median, max) of the headline figures over several runs.

The tables are printed from the same object the JSON file holds, so the file says what the tables say.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from ops.bench_driver import STEPS, Lifecycle, latencies, pct
from ops.bench_measure import FullSpeed, RateRun

LATENCY_RUNS = {"fresh": "on a fresh platform", "after_full_speed": "after the full-speed run"}
MESSAGES_PER_LIFECYCLE = 14
# The figures whose spread over several runs is printed and written: "/" separates the keys of a nested figure.
HEADLINES = ("lifecycles_per_s", "ceiling_lifecycles_per_s", "ratio", "cpu_ms_per_lifecycle", "ceiling_cpu_ms_per_lifecycle",
             "worst_p99_ms/fresh", "worst_p99_ms/after_full_speed", "ceiling_worst_p99_ms",
             *(f"p99_ms/{which}/{step}" for which in LATENCY_RUNS for step in STEPS))


@dataclass
class PlatformRun:
    """What one bench run measured on the platform (the ceiling is measured apart)."""

    count: int  # lifecycles asked for at full speed
    rate: float  # lifecycles/s of the latency runs
    seconds: float  # length of each latency run
    partitions: int
    store: str  # "sqlite" or "postgres"
    full: FullSpeed
    fresh: RateRun  # the latency run on the fresh platform, after the warm-up
    after: RateRun  # the latency run after the full-speed run, once the platform is idle again
    produce: float  # raw aiokafka produce msg/s
    consume: float  # raw aiokafka consume msg/s
    token_us: dict[str, float] | None = None  # one command token checked: the services' way and joserfc's own


def clean(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (JSON's null), in nested dicts and lists too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    return value


def divide(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b == 0:
        return None
    return a / b


def latency_figures(lives: list[Lifecycle]) -> dict[str, dict[str, float]]:
    """Per step of the finished lifecycles: n, p50, p95, p99 and max in milliseconds (NaN for a step never seen)."""
    return {step: {"n": len(values), "p50_ms": pct(values, 50), "p95_ms": pct(values, 95), "p99_ms": pct(values, 99),
                   "max_ms": max(values) if values else math.nan}
            for step, values in latencies([life for life in lives if life.done.is_set()]).items()}


def cpu_figures(run: FullSpeed) -> dict[str, dict[str, float]]:
    """Per process, busiest first, then "all": CPU seconds of the run, share of one core (during the run and idle),
    and milliseconds per finished lifecycle (all of it, and above what the process spends idle)."""
    done = max(len(run.finished), 1)

    def row(seconds: float, idle_share: float) -> dict[str, float]:
        return {"cpu_s": seconds, "share_of_one_core": seconds / run.elapsed, "idle_share_of_one_core": idle_share,
                "ms_per_lifecycle": seconds * 1000 / done,
                "ms_per_lifecycle_above_idle": max(seconds - idle_share * run.elapsed, 0) * 1000 / done}

    rows = {name: row(seconds, run.idle.get(name, 0.0)) for name, seconds in sorted(run.spent.items(), key=lambda kv: -kv[1])}
    if rows:
        rows["all"] = row(sum(run.spent.values()), sum(run.idle.values()))
    return rows


def git_commit(root: Path = Path(__file__).resolve().parent.parent) -> tuple[str | None, bool | None]:
    """The checked-out commit and whether the work tree has changes; (None, None) where git cannot tell."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                                text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip() or None, bool(status.stdout.strip()) if status.returncode == 0 else None


def _worst(p99: dict[str, float]) -> float | None:
    return max((x for x in p99.values() if math.isfinite(x)), default=None)


def run_figures(platform: PlatformRun, ceiling: FullSpeed | None, cores: int | None, commit: str | None = None,
                dirty: bool | None = None, timestamp: datetime | None = None,
                ceiling_history: RateRun | None = None) -> dict[str, Any]:
    """Everything one run's tables print, as one JSON-ready object (no NaN: null instead). ``ceiling_history``: the
    stand-ins' latency run before their full-speed run."""
    full = platform.full
    finished = full.finished
    throughput, event_rate = full.throughput, full.events / full.elapsed
    latency = {"fresh": latency_figures(platform.fresh.lives), "after_full_speed": latency_figures(platform.after.lives)}
    p99 = {which: {step: figures["p99_ms"] for step, figures in steps.items()} for which, steps in latency.items()}
    ceiling_latency = latency_figures(ceiling_history.lives) if ceiling_history is not None else None
    cpu_ms = full.cpu_ms_per_lifecycle if full.spent else None
    ceiling_throughput = ceiling.throughput if ceiling is not None else None
    ceiling_cpu_ms = ceiling.cpu_ms_per_lifecycle if ceiling is not None and ceiling.spent else None
    when = timestamp or datetime.now(UTC)
    return clean({
        "timestamp": when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "commit": commit, "commit_dirty": dirty,
        "store": platform.store, "partitions": platform.partitions, "cores": cores,
        "lifecycles_requested": platform.count, "lifecycles_finished": len(finished), "elapsed_s": full.elapsed,
        "lifecycles_per_s": throughput, "events_per_s": event_rate,
        "raw_produce_msg_per_s": platform.produce, "raw_consume_msg_per_s": platform.consume,
        "events_per_s_over_raw_consume": divide(event_rate, platform.consume),
        "messages_per_s_over_raw_produce": divide(throughput * MESSAGES_PER_LIFECYCLE, platform.produce),
        "token_verify_us": platform.token_us,
        "cpu_ms_per_lifecycle": cpu_ms, "cpu": cpu_figures(full),
        "full_speed_p99_ms": {step: pct(values, 99) for step, values in latencies(finished).items()},
        "mean_lifecycle_ms": (statistics.mean([(max(life.seen.values()) - life.sent["create"]) * 1000 for life in finished])
                              if finished else None),
        "rate": platform.rate, "seconds": platform.seconds,
        "latency_lifecycles": {"fresh": _counts(platform.fresh.lives), "after_full_speed": _counts(platform.after.lives)},
        "latency": latency, "p99_ms": p99,
        "worst_p99_ms": {which: _worst(steps) for which, steps in p99.items()},
        "latency_cpu": {"fresh": platform.fresh.cpu, "after_full_speed": platform.after.cpu},
        "ceiling_lifecycles_per_s": ceiling_throughput,
        "ceiling_lifecycles_finished": len(ceiling.finished) if ceiling is not None else None,
        "ceiling_elapsed_s": ceiling.elapsed if ceiling is not None else None,
        "ceiling_cpu_ms_per_lifecycle": ceiling_cpu_ms,
        "ceiling_cpu": cpu_figures(ceiling) if ceiling is not None else None,
        "ceiling_latency": ceiling_latency,
        "ceiling_worst_p99_ms": _worst({s: f["p99_ms"] for s, f in ceiling_latency.items()}) if ceiling_latency else None,
        "ceiling_latency_cpu": ceiling_history.cpu if ceiling_history is not None else None,
        "ratio": divide(throughput, ceiling_throughput), "cpu_ratio": divide(cpu_ms, ceiling_cpu_ms),
    })


def _counts(lives: list[Lifecycle]) -> dict[str, int]:
    return {"started": len(lives), "completed": sum(life.done.is_set() for life in lives)}


def figure(run: dict[str, Any], name: str) -> float | None:
    """The figure ``name`` (keys joined by "/", as in HEADLINES) of one run's object; None where it has none."""
    value: Any = run
    for key in name.split("/"):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def spread(runs: list[dict[str, Any]], names: tuple[str, ...] = HEADLINES) -> dict[str, dict[str, float | int | None]]:
    """Per headline figure: min, median and max over the runs that have it, and n, how many have it."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name in names:
        values = [v for v in (figure(run, name) for run in runs) if v is not None]
        out[name] = {"min": min(values, default=None), "median": statistics.median(values) if values else None,
                     "max": max(values, default=None), "n": len(values)}
    return out


def document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``--json FILE`` holds, for one run or several: ``{"runs": [...], "spread": {...}}``."""
    return clean({"runs": runs, "spread": spread(runs)})


def write_json(path: Path, runs: list[dict[str, Any]]) -> None:
    """Written whole after every run (to a neighbour first, then renamed), so a failed later run leaves the earlier ones."""
    text = json.dumps(document(runs), indent=2, ensure_ascii=False, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".partial")
    scratch.write_text(text + "\n", encoding="utf-8")
    scratch.replace(path)


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def full_speed_table(run: dict[str, Any]) -> Table:
    parts = run["partitions"]
    table = Table(title=f"Full speed: {run['lifecycles_finished']}/{run['lifecycles_requested']} lifecycles in "
                        f"{run['elapsed_s']:.1f}s ({parts} partition{'s' if parts > 1 else ''} per topic, "
                        f"{'PostgreSQL' if run['store'] == 'postgres' else 'SQLite'})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("lifecycles/s", _num(run["lifecycles_per_s"], ",.0f"))
    table.add_row("platform events read/s (payments + escrow events)", _num(run["events_per_s"], ",.0f"))
    table.add_row("raw aiokafka produce msg/s (acks=all, linger 5 ms)", _num(run["raw_produce_msg_per_s"], ",.0f"))
    table.add_row("raw aiokafka consume msg/s", _num(run["raw_consume_msg_per_s"], ",.0f"))
    table.add_row("events/s ÷ raw consume", _num(run["events_per_s_over_raw_consume"], ".3f"))
    table.add_row(f"lifecycles/s × {MESSAGES_PER_LIFECYCLE} messages ÷ raw produce", _num(run["messages_per_s_over_raw_produce"], ".3f"))
    if run["token_verify_us"]:
        tokens = run["token_verify_us"]
        table.add_row("µs to check a command token (libsodium; joserfc's OpenSSL)",
                      f"{_num(tokens.get('sodium'), '.0f')}; {_num(tokens.get('openssl'), '.0f')}")
    return table


def cpu_table(cpu: dict[str, dict[str, float]], title: str, elapsed: float, cores: int | None) -> Table:
    table = Table(title=f"{title} ({elapsed:.1f}s wall, {cores} cores)")
    for column in ("process", "CPU s", "% of one core", "idle % of one core", "ms per lifecycle", "ms per lifecycle above idle"):
        table.add_column(column, justify="right" if column != "process" else "left")
    for name, row in cpu.items():
        table.add_row(name, f"{row['cpu_s']:.1f}", f"{row['share_of_one_core'] * 100:.0f}", f"{row['idle_share_of_one_core'] * 100:.0f}",
                      f"{row['ms_per_lifecycle']:.2f}", f"{row['ms_per_lifecycle_above_idle']:.2f}")
    return table


def latency_table(run: dict[str, Any], which: str) -> Table:
    counts = run["latency_lifecycles"][which]
    return _steps_table(f"At {run['rate']:.0f} lifecycles/s for {run['seconds']:.0f}s {LATENCY_RUNS[which]}: latency per "
                        f"step (ms), {counts['completed']}/{counts['started']} completed", run["latency"][which])


def _steps_table(title: str, steps: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    for column in ("step", "n", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right" if column != "step" else "left")
    for step, row in steps.items():
        table.add_row(step, str(row["n"]), *(_num(row[key], ".1f") for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")))
    return table


def _cpu_line(label: str, shares: dict[str, float]) -> str:
    busy = [(name, share) for name, share in shares.items() if share >= 0.01]
    return f"{label}, % of one core: " + ", ".join(f"{name} {share * 100:.0f}" for name, share in busy) + \
        f"; all {sum(shares.values()) * 100:.0f}"


def platform_report(run: dict[str, Any]) -> list[Table | str]:
    """What the bench prints about the platform, in order."""
    out: list[Table | str] = [full_speed_table(run)]
    if run["cpu"]:
        out.append(cpu_table(run["cpu"], "CPU during the full-speed run", run["elapsed_s"], run["cores"]))
    for which in LATENCY_RUNS:
        out.append(latency_table(run, which))
        if run["latency_cpu"][which]:
            out.append(_cpu_line(f"CPU during the latency run {LATENCY_RUNS[which]}", run["latency_cpu"][which]))
    out.append("full-speed p99 per step (ms): " + ", ".join(f"{s} {_num(v, '.0f')}" for s, v in run["full_speed_p99_ms"].items()))
    out.append(f"mean lifecycle at full speed: {run['mean_lifecycle_ms']:.0f} ms" if run["mean_lifecycle_ms"] is not None
               else "no lifecycle finished")
    return out


def ceiling_report(run: dict[str, Any]) -> list[Table | str]:
    """The ceiling's CPU and the platform beside it (nothing without a ceiling)."""
    if run["ceiling_lifecycles_per_s"] is None:
        return []
    out: list[Table | str] = []
    if run["ceiling_latency"]:
        out.append(_steps_table(f"Ceiling: at {run['rate']:.0f} lifecycles/s for {run['seconds']:.0f}s on the fresh stand-ins "
                                "(their history before full speed, as the platform's): latency per step (ms)",
                                run["ceiling_latency"]))
        if run["ceiling_latency_cpu"]:
            out.append(_cpu_line("CPU during the stand-ins' latency run", run["ceiling_latency_cpu"]))
    if run["ceiling_cpu"]:
        out.append(cpu_table(run["ceiling_cpu"], "Ceiling: the same lifecycles through stand-ins that do no domain work",
                             run["ceiling_elapsed_s"], run["cores"]))
    table = Table(title="The platform beside the stack's ceiling (FastStream + aiokafka + Tansu, no domain work)")
    for column in ("figure", "platform", "ceiling", "platform ÷ ceiling"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    table.add_row("lifecycles/s", _num(run["lifecycles_per_s"], ",.0f"), _num(run["ceiling_lifecycles_per_s"], ",.0f"),
                  _num(run["ratio"], ".2f"))
    if run["cpu_ms_per_lifecycle"] is not None and run["ceiling_cpu_ms_per_lifecycle"] is not None:
        table.add_row("CPU ms per lifecycle, all processes", _num(run["cpu_ms_per_lifecycle"], ".2f"),
                      _num(run["ceiling_cpu_ms_per_lifecycle"], ".2f"), _num(run["cpu_ratio"], ".2f"))
    out.append(table)
    return out


def spread_table(figures: dict[str, dict[str, float | int | None]], runs: int) -> Table:
    table = Table(title=f"Spread over {runs} runs, each on a fresh platform")
    for column in ("figure", "min", "median", "max", "runs"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    for name, row in figures.items():
        spec = ".2f" if "ratio" in name else ",.0f" if name.endswith("lifecycles_per_s") else ".1f"
        table.add_row(name.replace("/", " "), *(_num(row[key], spec) for key in ("min", "median", "max")),  # type: ignore[arg-type]
                      str(row["n"]))
    return table
