"""`make chaos`: mixed lifecycles under faults, then the audit.

A fresh platform (test mode, its own broker) is driven by plain Kafka messages, as outside systems
would drive it, through N lifecycles of six kinds:

- **happy**: create → pay (QR) → hold → ship → the buyer confirms → released;
- **auto-confirm**: shipped and never confirmed: released when the test clock passes the deadline;
- **cancel**: the buyer cancels a paid order before shipment (refunded in full), or the merchant
  cancels an unpaid one;
- **refund**: after shipment the buyer asks for part of the money back and the merchant accepts;
- **dispute**: the merchant rejects a full refund, the buyer escalates, the arbitrator rules it;
- **compensation**: the order is released, the merchant withdraws everything, then a case it
  accepts cannot be paid from its balance: the platform compensates and claims from the insurer.

Meanwhile a random service is killed with SIGKILL every few seconds and restarted, and every
client's broker connection is cut now and then (``ops.proxy``). When the lifecycles are done the
faults stop, the test clock moves 3 days (the cases' verification) and 8 more (auto-confirm,
payouts), the platform is left to go quiet, ``danbao audit`` checks the whole record, and
escrow's trial balance (``danbao ledger trial-balance``) its own books.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ops.chaos_lifecycles import COMPENSATION_MERCHANT, KINDS, MERCHANT, Lifecycles, Platform, Stuck
from ops.cli_common import console as progress_console
from ops.platform import SERVICES, LocalPlatform, ready
from ops.progress import Board, Step
from shared.db import Database, sqlite_file_url

__all__ = ["KINDS", "ChaosReport", "drive", "main", "run_chaos"]

DAY = 86_400
DUPLICATE = re.compile(rb'"msg": "duplicate ')
# A case opened before disputes has read escrow's hold waits for it (parked): never a refusal.
PARKED = re.compile(rb'"msg": "parked ')


@dataclass
class ChaosReport:
    lifecycles: Counter[str] = field(default_factory=Counter)
    completed: Counter[str] = field(default_factory=Counter)
    stuck: list[str] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    after_commit_kills: int = 0  # of the kills, those between a batch's commit and its offsets' commit
    restarts: int = 0
    failed_starts: int = 0    # restarts that exited during start-up and were started again
    cuts: int = 0
    send_retries: int = 0
    redelivered: int = 0      # messages the services' inboxes recognised as already handled
    parked: int = 0           # commands that waited for another service's event (parked), then ran
    republished: int = 0      # events published more than once (same event id), seen by the audit
    events: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    audit: Any = None
    ledger_problems: list[str] | None = None  # escrow's database: the trial balance, after the run

    @property
    def breaches(self) -> int:
        if self.audit is None or self.ledger_problems is None:
            return -1
        return self.audit.breach_count + len(self.ledger_problems)

    @property
    def ok(self) -> bool:
        return not self.stuck and self.breaches == 0 and sum(self.completed.values()) == sum(self.lifecycles.values())


class Faults:
    """SIGKILLs a random service every ``kill_every`` seconds (restarting it at once), cuts connections every ``cut_every``."""

    def __init__(self, platform: LocalPlatform, report: ChaosReport, rng: random.Random,
                 kill_every: float, cut_every: float, max_kills: int | None) -> None:
        self.platform, self.report, self.rng = platform, report, rng
        self.kill_every, self.cut_every, self.max_kills = kill_every, cut_every, max_kills
        self.restarting: set[asyncio.Task[None]] = set()

    async def kills(self) -> None:
        while self.max_kills is None or sum(self.report.kills.values()) < self.max_kills:
            await asyncio.sleep(self.kill_every)
            name = self.rng.choice(SERVICES)
            if self.rng.random() < 0.5 or not await self._after_commit(name):
                self.platform.kill_service(name)  # at whatever moment this is
            self.report.kills[name] += 1
            self.platform.start_service(name)
            task = asyncio.create_task(self._ready(name))
            self.restarting.add(task)
            task.add_done_callback(self.restarting.discard)

    async def _after_commit(self, name: str) -> bool:
        """Ask the service (test mode) to kill itself with SIGKILL in the worst window: its next batch
        committed, the batch's offsets not. True if it did within a few seconds."""
        request = self.platform.data_dir / f"{name}.crash-requested"
        request.touch()
        process = self.platform.processes[name]
        try:
            for _ in range(30):
                await asyncio.sleep(0.1)
                if not process.running():
                    assert process.process is not None
                    process.process.wait()
                    self.report.after_commit_kills += 1
                    return True
            return False
        finally:  # also when the faults stop meanwhile: no request may outlive them
            request.unlink(missing_ok=True)

    async def _ready(self, name: str) -> None:
        """Until the service is ready again; a start that fails (a cut in the moment its consumers join)
        is started again, as a container's restart policy would."""
        process = self.platform.processes[name]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not process.running():
                self.report.failed_starts += 1
                self.platform.start_service(name)
            elif await asyncio.to_thread(ready, process.health_url, process.process.pid if process.process else None):
                self.report.restarts += 1
                return
            await asyncio.sleep(0.3)

    async def cuts(self) -> None:
        while True:
            await asyncio.sleep(self.cut_every)
            self.platform.cut_connections()
            self.report.cuts += 1

    async def all_up(self) -> None:
        """Wait for the restarts under way; every service must be up before the clock moves."""
        await asyncio.gather(*self.restarting, return_exceptions=True)
        for name in SERVICES:  # killed by a fault stopped before it could start the service again
            if not self.platform.processes[name].running():
                self.report.kills[name] += 1
                self.platform.start_service(name)
                await self._ready(name)
        await asyncio.to_thread(self.platform.wait_ready, 90)


def _faults_so_far(report: ChaosReport) -> str:
    return f"{sum(report.kills.values())} kills, {report.cuts} cuts, {len(report.stuck)} stuck"


async def drive(platform: LocalPlatform, count: int, rate: float, kill_every: float, cut_every: float,
                max_kills: int | None = None, seed: int = 1, concurrency: int = 40, wait_timeout: float = 240,
                board: Board | None = None) -> ChaosReport:
    """Run ``count`` lifecycles on a started (cuttable, test-mode) platform under faults; then settle and audit
    (its progress on ``board``)."""
    from ops.audit import audit

    assert platform.broker is not None
    board = board or Board(Console(quiet=True))
    rng = random.Random(seed)
    report = ChaosReport()
    p = Platform(platform.broker.bootstrap, wait_timeout)
    await p.start()
    lives = Lifecycles(p, uuid.uuid4().hex[:6].upper())
    for n, merchant in enumerate((MERCHANT, COMPENSATION_MERCHANT)):
        await lives.contact("merchant", merchant, n)
    faults = Faults(platform, report, rng, kill_every, cut_every, max_kills)
    fault_tasks = [asyncio.create_task(faults.kills()), asyncio.create_task(faults.cuts())]
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    finished: Step = board.step("lifecycles finished, under faults", count)

    async def one(n: int, kind: str) -> None:
        async with gate:
            try:
                await Lifecycles.RUN[kind](lives, n)
                report.completed[kind] += 1
            except Stuck as exc:
                report.stuck.append(f"{kind} #{n}: {exc}")
            finished.advance(note=_faults_so_far(report))

    try:
        kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=count)
        tasks = []
        for n, kind in enumerate(kinds):
            report.lifecycles[kind] += 1
            tasks.append(asyncio.create_task(one(n, kind)))
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
        await asyncio.gather(*tasks)
        finished.done(note=_faults_so_far(report))
        report.seconds["lifecycles"] = time.monotonic() - started
        for task in fault_tasks:
            task.cancel()
        await asyncio.gather(*fault_tasks, return_exceptions=True)
        restarting = board.step("faults stopped: every service up again")
        await faults.all_up()
        restarting.done()
        settling = board.step("settling: the clock moved 3 + 8 days, then quiet")
        settled = time.monotonic()
        await settle(p, lives, report)
        report.seconds["settle"] = time.monotonic() - settled
        settling.done()
        report.send_retries = p.send_retries
        report.events = p.messages
    finally:
        for task in fault_tasks:
            task.cancel()
        await p.stop()
    logs = [platform.processes[s].log_path.read_bytes() for s in SERVICES]
    report.redelivered = sum(len(DUPLICATE.findall(log)) for log in logs)
    report.parked = sum(len(PARKED.findall(log)) for log in logs)
    auditing = board.step("the audit of every event, and escrow's trial balance")
    report.audit = await audit(platform.broker.bootstrap)
    report.republished = report.audit.redelivered
    report.ledger_problems = await ledger_problems(platform.data_dir)
    auditing.done(note=f"{report.breaches} breaches")
    return report


async def ledger_problems(data_dir: Path) -> list[str]:
    """Escrow's own books after the run (its SQLite file): debits = credits in every entry and overall,
    every hold adds up, every running balance matches its journal."""
    from ops.ledger import trial_balance

    db = Database(sqlite_file_url(data_dir, "escrow"))
    try:
        return (await trial_balance(db)).problems
    finally:
        await db.dispose()


async def settle(p: Platform, lives: Lifecycles, report: ChaosReport, quiet: float = 5.0) -> None:
    """Three days close the cases' verification (unfreezing their holds), eight more release what
    waits for auto-confirm (a frozen hold's countdown resumes when it is unfrozen); then wait for quiet."""
    async def expect(type_: str, **match: str) -> None:
        try:
            await p.wait(type_, **match)
        except Stuck as exc:
            report.stuck.append(f"settle: {exc}")

    for _ in range(3):
        await p.advance_clock(DAY)
    await asyncio.gather(*(expect("disputes.case.closed", case_id=case) for case in lives.closing_cases))
    await asyncio.gather(*(expect("escrow.hold.unfrozen", case_id=case) for case in lives.frozen_cases))
    await p.advance_clock(8 * DAY)
    await asyncio.gather(*(expect("escrow.hold.released", order_id=order) for order in lives.released_later))
    while time.monotonic() - p.last_message < quiet:
        await asyncio.sleep(0.5)


def run_chaos(count: int = 500, rate: float = 5.0, kill_every: float = 3.0, cut_every: float = 11.0,
              max_kills: int | None = None, seed: int = 1, data_dir: Path | None = None, wait_timeout: float = 240,
              board: Board | None = None) -> ChaosReport:
    """A fresh cuttable platform in test mode on SQLite files (in a temporary folder unless ``data_dir``)."""
    board = board or Board(Console(quiet=True))
    with tempfile.TemporaryDirectory(prefix="danbao-chaos-") as tmp:
        platform = LocalPlatform(data_dir=data_dir or Path(tmp), cuttable=True,
                                 extra_env={"DANBAO_MODE": "test", "DANBAO_LOG_LEVEL": "INFO"})
        starting = board.step("starting a fresh platform (test mode, connections through a proxy it can cut)")
        platform.start(ready_timeout=90)
        starting.done()
        try:
            return asyncio.run(drive(platform, count, rate, kill_every, cut_every, max_kills, seed, wait_timeout=wait_timeout,
                                     board=board))
        finally:
            platform.stop()


def render(report: ChaosReport) -> Table:
    table = Table(title="Chaos run")
    table.add_column("figure")
    table.add_column("value", justify="right")
    total, done = sum(report.lifecycles.values()), sum(report.completed.values())
    rows = [
        ("lifecycles", f"{total} ({', '.join(f'{k} {v}' for k, v in sorted(report.lifecycles.items()))})"),
        ("completed", f"{done} of {total}"),
        ("stuck", str(len(report.stuck))),
        ("kills (SIGKILL)", f"{sum(report.kills.values())} ({', '.join(f'{k} {v}' for k, v in sorted(report.kills.items()))})"),
        ("of them after a commit, before its offsets", str(report.after_commit_kills)),
        ("restarts (ready again)", str(report.restarts)),
        ("starts that failed and were started again", str(report.failed_starts)),
        ("connection cuts", str(report.cuts)),
        ("driver sends retried", str(report.send_retries)),
        ("messages redelivered (inbox duplicates)", str(report.redelivered)),
        ("events published twice (same id)", str(report.republished)),
        ("commands that waited for another service's event", str(report.parked)),
        ("events read by the driver", str(report.events)),
        ("lifecycle phase / settle (s)", f"{report.seconds.get('lifecycles', 0):.1f} / {report.seconds.get('settle', 0):.1f}"),
        ("escrow's trial balance (its database)", "balanced" if report.ledger_problems == [] else
         "; ".join((report.ledger_problems or ["not read"])[:5])),
        ("breaches", str(report.breaches)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def main(count: int = 500, rate: float = 5.0, kill_every: float = 3.0, cut_every: float = 11.0,
         max_kills: int | None = None, seed: int = 1) -> ChaosReport:
    from ops.audit import render as audit_tables

    console = Console()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the driver's reconnections after each cut are expected
    with Board(progress_console) as board:
        report = run_chaos(count, rate, kill_every, cut_every, max_kills, seed, board=board)
    for part in audit_tables(report.audit):
        console.print(part)
    console.print(render(report))
    for line in report.stuck[:20]:
        console.print(f"[red]stuck: {line}[/red]")
    return report
