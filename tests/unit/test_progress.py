"""The long commands' progress (``ops.progress``): bars on a terminal; elsewhere a line as each step starts,
every few seconds with its count and the time left at the pace so far, and when it ends."""

from __future__ import annotations

import io

from rich.console import Console

from ops.progress import Board


def test_without_a_terminal_it_prints_lines_with_the_count_and_the_time_left() -> None:
    out, now = io.StringIO(), [0.0]
    with Board(Console(file=out, width=60), every=10, clock=lambda: now[0]) as board:
        starting = board.step("starting a fresh platform")
        now[0] += 7
        starting.done()
        lives = board.step("lifecycles finished", 500)
        for n in range(500):
            now[0] += 0.1
            lives.advance(note=f"{n // 30} kills")
        lives.done()
    assert out.getvalue().splitlines() == [
        "starting a fresh platform…",
        "starting a fresh platform: done in 0:00:07",
        "lifecycles finished: 0/500",
        "lifecycles finished: 101/500 (20%), 0:00:10 elapsed, about 0:00:39 left (3 kills)",
        "lifecycles finished: 201/500 (40%), 0:00:20 elapsed, about 0:00:29 left (6 kills)",
        "lifecycles finished: 301/500 (60%), 0:00:30 elapsed, about 0:00:19 left (10 kills)",
        "lifecycles finished: 401/500 (80%), 0:00:40 elapsed, about 0:00:09 left (13 kills)",
        "lifecycles finished: done 500/500 in 0:00:50 (16 kills)",
    ]


def test_on_a_terminal_it_draws_a_bar_with_the_time_left() -> None:
    out = io.StringIO()
    with Board(Console(file=out, force_terminal=True, width=120)) as board:
        step = board.step("lifecycles finished", 4)
        step.advance(2, note="1 kill")
        assert step.eta() is not None
        board.bars.refresh()  # type: ignore[union-attr]
        step.advance(2)
        step.done()
    drawn = out.getvalue()
    assert "lifecycles finished" in drawn and "2/4" in drawn and "4/4" in drawn and "left" in drawn and "━" in drawn


async def test_scenarios_in_turn_are_counted_with_the_one_under_way_as_the_note() -> None:
    from ops.progress import in_turn

    out = io.StringIO()
    board = Board(Console(file=out, width=100), every=0, clock=lambda: 0.0)
    seen: list[str] = []

    async def scenario(name: str) -> str:
        seen.append(out.getvalue().splitlines()[-1])  # the line printed as it began
        return name.upper()

    assert await in_turn(["walk-in", "shop-qr"], scenario, board.step("collection scenarios", 2)) == ["WALK-IN", "SHOP-QR"]
    assert seen == ["collection scenarios: 0/2 (0%), 0:00:00 elapsed (walk-in)",
                    "collection scenarios: 1/2 (50%), 0:00:00 elapsed, about 0:00:00 left (shop-qr)"]
    assert out.getvalue().splitlines()[-1].startswith("collection scenarios: done 2/2 in ")


async def test_bench_counts_each_finished_lifecycle_on_its_step() -> None:
    from ops.bench_driver import Lifecycle, run_lifecycles

    class Driver:
        events = 0

        async def begin(self, n: int) -> Lifecycle:
            life = Lifecycle(f"O-{n}", f"B-{n}")
            if n != 3:
                life.done.set()  # the fourth never finishes
            return life

    out = io.StringIO()
    board = Board(Console(file=out, width=100), every=3600)
    lives, _, _ = await run_lifecycles(Driver(), 5, None, 0.2, board.step("lifecycles at full speed", 5))  # type: ignore[arg-type]
    assert len(lives) == 5
    assert out.getvalue().splitlines()[-1].startswith("lifecycles at full speed: done 4/5 in ")
