"""The bench's figures from synthetic measurements, no platform: the JSON object a run writes, the ratio to the
ceiling, null where a figure is missing (never NaN), and the spread over several runs."""

from __future__ import annotations

import io
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from ops.bench_driver import STEPS, Lifecycle
from ops.bench_measure import FullSpeed, RateRun
from ops.bench_report import (HEADLINES, PlatformRun, ceiling_report, clean, document, platform_report, run_figures, spread,
                              spread_table, write_json)

EVENTS = ("payments.order.created", "payments.payment.succeeded", "escrow.hold.created", "escrow.shipment.recorded",
          "escrow.hold.released")


def life(n: int, step_ms: float, finished: bool = True, upto: int = 5) -> Lifecycle:
    """A lifecycle whose every step took ``step_ms``: create and pay at 0, each event ``step_ms`` after the last."""
    out = Lifecycle(f"O-{n}", f"B-{n}")
    out.sent["create"] = out.sent["pay"] = 0.0
    for i, event in enumerate(EVENTS[:upto], start=1):
        out.seen[event] = i * step_ms / 1000
        if event == "escrow.hold.created":
            out.sent["ship"] = out.seen[event]
        elif event == "escrow.shipment.recorded":
            out.sent["confirm"] = out.seen[event]
    if finished:
        out.done.set()
    return out


def full(count: int, elapsed: float, cpu: dict[str, float]) -> FullSpeed:
    return FullSpeed([life(n, 10) for n in range(count)], elapsed, count * 9, spent=cpu,
                     idle={name: 0.01 for name in cpu}, idle_total=0.1, idle_elapsed=5.0)


def at_rate(lives: list[Lifecycle], cpu: dict[str, float] | None = None) -> RateRun:
    return RateRun(lives, 2.0, cpu if cpu is not None else {"broker (tansu)": 0.5, "payments": 0.25})


def platform_run(fresh: list[Lifecycle], after: list[Lifecycle] | None = None, lifecycles_per_s: float = 100.0) -> PlatformRun:
    return PlatformRun(count=200, rate=20, seconds=2, partitions=1, store="sqlite",
                       full=full(200, 200 / lifecycles_per_s, {"payments": 1.0, "escrow": 1.5}), fresh=at_rate(fresh),
                       after=at_rate(after if after is not None else [life(n, 30) for n in range(40)],
                                     {"broker (tansu)": 0.75, "payments": 0.25}),
                       produce=20_000.0, consume=40_000.0, token_us={"sodium": 85.0, "openssl": 140.0})


def test_a_runs_object_holds_every_figure_and_the_ratio_to_the_ceiling() -> None:
    fresh = [life(n, 10 + n) for n in range(40)] + [life(99, 5, finished=False, upto=2)]
    ceiling = full(200, 0.5, {"payments": 0.2, "escrow": 0.3})
    history = at_rate([life(n, 4) for n in range(40)], {"broker (tansu)": 0.25})
    run = run_figures(platform_run(fresh), ceiling, cores=2, commit="abc123", dirty=False,
                      timestamp=datetime(2026, 11, 23, 8, 30, tzinfo=UTC), ceiling_history=history)
    assert {"lifecycles_per_s", "ceiling_lifecycles_per_s", "ratio", "cpu_ms_per_lifecycle", "ceiling_cpu_ms_per_lifecycle",
            "events_per_s", "raw_produce_msg_per_s", "raw_consume_msg_per_s", "cpu", "ceiling_cpu", "store", "partitions",
            "cores", "lifecycles_requested", "lifecycles_finished", "rate", "seconds", "commit", "timestamp",
            "latency", "p99_ms", "worst_p99_ms"} <= set(run)
    assert run["timestamp"] == "2026-11-23T08:30:00Z" and run["commit"] == "abc123"
    assert (run["store"], run["partitions"], run["cores"], run["lifecycles_requested"], run["lifecycles_finished"]) == ("sqlite", 1, 2, 200, 200)
    assert run["lifecycles_per_s"] == 100.0 and run["ceiling_lifecycles_per_s"] == 400.0 and run["ratio"] == 0.25
    assert run["events_per_s"] == 900.0 and run["raw_produce_msg_per_s"] == 20_000.0
    assert run["token_verify_us"] == {"sodium": 85.0, "openssl": 140.0}
    assert math.isclose(run["cpu_ms_per_lifecycle"], 12.5) and math.isclose(run["ceiling_cpu_ms_per_lifecycle"], 2.5)
    assert math.isclose(run["cpu_ratio"], 5.0)
    assert list(run["cpu"]) == ["escrow", "payments", "all"]  # busiest first
    assert math.isclose(run["cpu"]["escrow"]["ms_per_lifecycle"], 7.5) and math.isclose(run["cpu"]["all"]["cpu_s"], 2.5)
    assert math.isclose(run["ceiling_cpu"]["all"]["ms_per_lifecycle"], 2.5)
    # the latency runs: only finished lifecycles count, every step of each
    assert run["latency_lifecycles"] == {"fresh": {"started": 41, "completed": 40}, "after_full_speed": {"started": 40, "completed": 40}}
    assert set(run["latency"]) == {"fresh", "after_full_speed"} and list(run["latency"]["fresh"]) == list(STEPS)
    first = run["latency"]["fresh"]["create→order.created"]
    assert first["n"] == 40 and math.isclose(first["p50_ms"], 30) and math.isclose(first["max_ms"], 49)
    assert math.isclose(first["p99_ms"], 49) and math.isclose(first["p95_ms"], 47)
    assert math.isclose(run["p99_ms"]["after_full_speed"]["pay→payment.succeeded"], 60)  # paid at 0, succeeded at 2 × 30 ms
    assert math.isclose(run["worst_p99_ms"]["fresh"], 98)
    assert math.isclose(run["worst_p99_ms"]["after_full_speed"], 60)
    # each process's share of a core during each latency run; the stand-ins' latency run before their full speed
    assert run["latency_cpu"] == {"fresh": {"broker (tansu)": 0.5, "payments": 0.25},
                                  "after_full_speed": {"broker (tansu)": 0.75, "payments": 0.25}}
    assert list(run["ceiling_latency"]) == list(STEPS) and run["ceiling_latency"]["create→order.created"]["n"] == 40
    assert math.isclose(run["ceiling_latency"]["create→order.created"]["p99_ms"], 4)
    assert math.isclose(run["ceiling_worst_p99_ms"], 8) and run["ceiling_latency_cpu"] == {"broker (tansu)": 0.25}
    out = io.StringIO()
    for part in platform_report(run) + ceiling_report(run):
        Console(file=out, width=200).print(part)
    printed = " ".join(out.getvalue().split())
    assert "CPU during the latency run after the full-speed run, % of one core: broker (tansu) 75, payments 25; all 100" in printed
    assert "on the fresh stand-ins" in printed and "CPU during the stand-ins' latency run" in printed
    assert "µs to check a command token (libsodium; joserfc's OpenSSL) │ 85; 140" in printed
    json.dumps(run, allow_nan=False)


def test_a_missing_figure_is_null_never_nan() -> None:
    """Without a ceiling, its figures and the ratios are null; a step no lifecycle reached has n 0 and null percentiles."""
    stuck = [life(n, 10, finished=False, upto=1) for n in range(5)]
    run = run_figures(platform_run(stuck), None, cores=None)
    assert run["ceiling_lifecycles_per_s"] is None and run["ratio"] is None and run["cpu_ratio"] is None
    assert run["ceiling_cpu"] is None and run["ceiling_cpu_ms_per_lifecycle"] is None
    assert run["ceiling_latency"] is None and run["ceiling_worst_p99_ms"] is None and run["ceiling_latency_cpu"] is None
    assert run["latency"]["fresh"]["confirm→hold.released"] == {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    assert run["p99_ms"]["fresh"] == {step: None for step in STEPS} and run["worst_p99_ms"]["fresh"] is None
    text = json.dumps(document([run]), allow_nan=False)  # raises on a NaN left anywhere
    assert "NaN" not in text
    assert clean({"a": [math.nan, 1.5, math.inf], "b": (-math.inf,)}) == {"a": [None, 1.5, None], "b": [None]}
    out = io.StringIO()
    console = Console(file=out, width=200)
    for part in platform_report(run) + ceiling_report(run):
        console.print(part)
    assert "200/200 lifecycles" in out.getvalue() and "SQLite" in out.getvalue() and "0/5 completed" in out.getvalue()
    assert "ceiling" not in out.getvalue()


def test_the_spread_is_the_min_median_and_max_over_the_runs(tmp_path: Path) -> None:
    ceiling = full(200, 0.5, {"payments": 0.2})
    runs = [run_figures(platform_run([life(n, ms) for n in range(10)], lifecycles_per_s=rate), ceiling, cores=2,
                        ceiling_history=at_rate([life(n, ms / 10) for n in range(10)]))
            for rate, ms in ((100.0, 10), (300.0, 50), (200.0, 20))]
    runs.append(run_figures(platform_run([life(n, 40) for n in range(10)], lifecycles_per_s=250.0), None, cores=2))
    figures = spread(runs)
    assert set(figures) == set(HEADLINES)
    assert figures["lifecycles_per_s"] == {"min": 100.0, "median": 225.0, "max": 300.0, "n": 4}
    assert figures["ceiling_lifecycles_per_s"] == {"min": 400.0, "median": 400.0, "max": 400.0, "n": 3}  # the last had none
    assert figures["ratio"] == {"min": 0.25, "median": 0.5, "max": 0.75, "n": 3}
    assert figures["p99_ms/fresh/create→order.created"] == {"min": 10.0, "median": 30.0, "max": 50.0, "n": 4}
    assert figures["worst_p99_ms/fresh"]["median"] == 60.0  # each run's worst step: pay→payment.succeeded, 2 steps
    assert figures["p99_ms/after_full_speed/pay→payment.succeeded"] == {"min": 60.0, "median": 60.0, "max": 60.0, "n": 4}
    assert figures["ceiling_worst_p99_ms"] == {"min": 2.0, "median": 4.0, "max": 10.0, "n": 3}
    for row in figures.values():
        assert row["min"] <= row["median"] <= row["max"]
    assert spread([run_figures(platform_run([]), None, cores=2)])["ratio"] == {"min": None, "median": None, "max": None, "n": 0}

    path = tmp_path / "figures" / "bench.json"  # a folder not made yet: made, not a run lost at the end
    write_json(path, runs)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert set(written) == {"runs", "spread"} and len(written["runs"]) == 4
    assert written["spread"]["ratio"]["median"] == 0.5 and written["runs"][3]["ratio"] is None
    assert not (tmp_path / "figures" / "bench.json.partial").exists()
    out = io.StringIO()
    Console(file=out, width=200).print(spread_table(figures, 4))
    assert "Spread over 4 runs" in out.getvalue() and "lifecycles_per_s" in out.getvalue()


def test_the_readme_names_every_key_of_a_runs_object() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("Each run's object holds:"):].split("\n\n")[1]
    documented = {key for line in table.splitlines()[2:] for key in re.findall(r"`([a-z_0-9]+)`", line.split(" | ")[0])}
    run = run_figures(platform_run([life(n, 10) for n in range(5)]), full(10, 1.0, {"payments": 0.1}), cores=2)
    assert documented == set(run)


def test_every_run_records_the_checkout_as_the_bench_found_it(tmp_path: Path, monkeypatch) -> None:
    """The runs' file is written after every run and may be tracked (docs/bench/): a later run must not call the
    checkout dirty because the first one wrote it."""
    import ops.bench as bench

    states = iter([("abc123", False), ("abc123", True), ("abc123", True)])
    monkeypatch.setattr(bench, "git_commit", lambda: next(states))
    seen = []

    def fake_run(*args, checkout=None, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(checkout)
        return {"commit": checkout[0], "commit_dirty": checkout[1]}

    monkeypatch.setattr(bench, "run_once", lambda *args: fake_run(*args[:-1], checkout=args[-1]))
    runs = bench.main(count=10, runs=2, json_path=tmp_path / "bench.json")
    assert seen == [("abc123", False), ("abc123", False)]
    assert [run["commit_dirty"] for run in runs] == [False, False]


def test_the_token_check_is_timed_both_ways() -> None:
    from ops.bench_measure import token_verification_us

    timed = token_verification_us(n=20)
    assert set(timed) == {"sodium", "openssl"} and all(0 < us < 1e5 for us in timed.values())
