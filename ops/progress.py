"""Progress of the long commands (chaos, burst, bench, demo, pii reencrypt) while they run.

On a terminal: rich progress bars with the time elapsed and an estimate of the time left. Elsewhere (a
log file, CI, a pipe), where a bar cannot redraw itself: a plain line when a step starts, at most every
``every`` seconds while it advances, and when it ends, each with its count and estimate. Progress goes to
standard error; the commands' reports stay on standard output."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

T = TypeVar("T")


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Step:
    """One step: with a total (a bar, an estimate) or without (a spinner)."""

    def __init__(self, board: Board, description: str, total: float | None) -> None:
        self.board, self.description, self.total = board, description, total
        self.completed = 0.0
        self.note = ""
        self.started = board.clock()
        self._printed = self.started
        self._id: TaskID | None = board.bars.add_task(description, total=total) if board.bars else None
        if board.bars is None:
            board.say(f"{description}…" if total is None else f"{description}: 0/{total:,.0f}")

    def advance(self, by: float = 1, note: str | None = None) -> None:
        self.update(self.completed + by, note)

    def update(self, completed: float, note: str | None = None, total: float | None = None) -> None:
        self.completed = completed
        if total is not None:
            self.total = total
        if note is not None:
            self.note = note
        if self.board.bars is not None and self._id is not None:
            label = f"{self.description} [dim]{self.note}[/dim]" if self.note else self.description
            self.board.bars.update(self._id, completed=completed, total=self.total, description=label)
        elif self.board.clock() - self._printed >= self.board.every:
            self._printed = self.board.clock()
            self.board.say(self.line())

    def eta(self) -> float | None:
        """Seconds left at the pace so far (None without a total or before any progress)."""
        if not self.total or self.completed <= 0:
            return None
        elapsed = self.board.clock() - self.started
        return max(elapsed / self.completed * (self.total - self.completed), 0.0)

    def line(self) -> str:
        elapsed = _clock(self.board.clock() - self.started)
        if not self.total:
            return f"{self.description}: {self.completed:,.0f} so far, {elapsed} elapsed" + (f" ({self.note})" if self.note else "")
        left = self.eta()
        share = self.completed / self.total
        text = (f"{self.description}: {self.completed:,.0f}/{self.total:,.0f} ({share:.0%}), {elapsed} elapsed"
                + (f", about {_clock(left)} left" if left is not None else ""))
        return text + (f" ({self.note})" if self.note else "")

    def done(self, note: str | None = None) -> None:
        if note is not None:
            self.note = note
        if self.board.bars is not None and self._id is not None:
            self.update(self.completed if self.total else 1, total=self.total or 1)
            self.board.bars.stop_task(self._id)
        else:
            elapsed = _clock(self.board.clock() - self.started)
            counted = f" {self.completed:,.0f}/{self.total:,.0f}" if self.total else ""
            self.board.say(f"{self.description}: done{counted} in {elapsed}" + (f" ({self.note})" if self.note else ""))


class Board:
    """The steps of one command. ``with Board(console) as board: step = board.step("lifecycles", 500) …``"""

    def __init__(self, console: Console, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.every, self.clock = console, every, clock
        self.bars: Progress | None = None
        if console.is_terminal:
            self.bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=console)

    def step(self, description: str, total: float | None = None) -> Step:
        return Step(self, description, total)

    def say(self, line: str) -> None:
        if self.bars is not None:
            self.bars.console.print(line, highlight=False, markup=False)
        else:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def __enter__(self) -> Board:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self.bars is not None:
            self.bars.stop()


async def in_turn(names: list[str], run: Callable[[str], Awaitable[T]], step: Step | None = None) -> list[T]:
    """``run`` each of ``names`` one after another, each counted on ``step`` (its name as the note)."""
    done: list[T] = []
    for name in names:
        if step is not None:
            step.update(len(done), note=name)
        done.append(await run(name))
    if step is not None:
        step.update(len(done), note="")
        step.done()
    return done
