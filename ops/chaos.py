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
import json
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

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from ops.kafka import command
from ops.platform import SERVICES, LocalPlatform, ready
from ops.pii import seal_document
from shared import topics
from shared.db import Database, sqlite_file_url
from shared.kafka_security import aiokafka_options

DAY = 86_400
KINDS = {"happy": 30, "auto-confirm": 15, "cancel": 20, "refund": 15, "dispute": 15, "compensation": 5}  # weights
MERCHANT, COMPENSATION_MERCHANT = "M-1001", "M-DEMO-HALF-COATS"
INDEXED = ("order_id", "case_id", "payout_id", "claim_id", "command_event_id")
WATCHED = [topics.events(s) for s in ("payments", "escrow", "disputes")] + [topics.CONTROL_EVENTS]
DUPLICATE = re.compile(rb'"msg": "duplicate ')
# A case opened before disputes has read escrow's hold waits for it (parked): never a refusal.
PARKED = re.compile(rb'"msg": "parked ')


class Stuck(Exception):
    """A lifecycle waited too long for an event."""


class Platform:
    """The driver's view: sends commands (retrying through connection cuts) and waits for events by id."""

    def __init__(self, bootstrap: str, wait_timeout: float) -> None:
        self.bootstrap = bootstrap
        self.wait_timeout = wait_timeout
        self.index: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.arrived: dict[tuple[str, str, str], asyncio.Event] = {}
        self.messages = 0
        self.last_message = time.monotonic()
        self.send_retries = 0
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, request_timeout_ms=10_000,
                                          **aiokafka_options())
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50,
                                          **aiokafka_options())

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        assigned = [TopicPartition(t, p) for t in WATCHED for p in sorted(self._consumer.partitions_for_topic(t) or [])]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._consumer.stop()
        await self._producer.stop()

    async def _read(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200)
            except KafkaError:
                await asyncio.sleep(0.5)  # a cut connection: the consumer reconnects and resumes where it was
                continue
            for records in batch.values():
                for record in records:
                    self.messages += 1
                    self.last_message = time.monotonic()
                    message = json.loads(record.value)
                    data = message.get("data") or {}
                    for name in INDEXED + ("correlation_id",):
                        value = message.get(name) if name == "correlation_id" else data.get(name)
                        if isinstance(value, str):
                            key = (message["type"], name, value)
                            self.index.setdefault(key, []).append(message)
                            self.arrived.setdefault(key, asyncio.Event()).set()

    async def send(self, service: str, type_: str, data: dict[str, Any], actor: tuple[str, str], key: str) -> str:
        """Publish a command; after a failed attempt the same bytes go again (its event id makes a copy harmless).
        Returns the command's event id."""
        data = seal_document({"type": type_, "data": data})["data"]  # personal fields sealed, like any client's
        value = command(type_, data, actor, "danbao-chaos", f"chaos-{key}")
        for _ in range(60):
            try:
                await self._producer.send_and_wait(topics.commands(service), value, key=key.encode())
                return str(json.loads(value)["event_id"])
            except KafkaError:
                self.send_retries += 1
                await asyncio.sleep(0.5)
        raise Stuck(f"could not publish {type_} for {key}")

    async def act(self, service: str, type_: str, data: dict[str, Any], actor: tuple[str, str], key: str,
                  expect: str, **match: str) -> dict[str, Any]:
        """Send a command once and wait for the event ``expect`` (matched on one data field); its rejection
        is a failure (one sent before the service read what it needs waits for it instead)."""
        ((name, value),) = match.items()
        command_id = await self.send(service, type_, data, actor, key)
        outcome = await self.first((expect, name, value), (f"{service}.command.rejected", "command_event_id", command_id))
        if outcome["type"] != expect:
            raise Stuck(f"{type_} for {key} rejected: {outcome['data']['reason']}: {outcome['data']['detail']}")
        return outcome

    async def first(self, *keys: tuple[str, str, str]) -> dict[str, Any]:
        """The first message under any of ``keys`` (type, data field, value)."""
        waits = [asyncio.ensure_future(self.arrived.setdefault(key, asyncio.Event()).wait()) for key in keys]
        try:
            done, _ = await asyncio.wait(waits, timeout=self.wait_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        for key in keys:
            if key in self.index:
                return self.index[key][0]
        raise Stuck(f"no {keys[0][0]} for {keys[0][2]}")

    async def wait(self, type_: str, **match: str) -> dict[str, Any]:
        """The first ``type_`` event whose data has the one ``match`` field (order_id, case_id, …)."""
        ((name, value),) = match.items()
        return await self.first((type_, name, value))

    def all(self, type_: str, **match: str) -> list[dict[str, Any]]:
        ((name, value),) = match.items()
        return self.index.get((type_, name, value), [])

    async def advance_clock(self, seconds: int) -> None:
        """Move every service's test clock and wait until all five did."""
        tag = f"clock-{uuid.uuid4().hex[:8]}"
        value = command("control.clock.advance", {"seconds": seconds}, ("operator", "OP-1"), "danbao-chaos", tag)
        await self._producer.send_and_wait(topics.CONTROL_COMMANDS, value, key=b"clock")
        deadline = time.monotonic() + self.wait_timeout
        while {m["data"]["service"] for m in self.all("control.clock.advanced", correlation_id=tag)} < set(SERVICES):
            if time.monotonic() > deadline:
                raise Stuck("the services did not all move their clocks")
            await asyncio.sleep(0.1)


class Lifecycles:
    """What buyers, merchants and the arbitrator do, one coroutine per kind."""

    def __init__(self, p: Platform, tag: str) -> None:
        self.p = p
        self.tag = tag
        self.compensation_turn = asyncio.Lock()  # one merchant's balance: its withdrawals and cases go in turn
        self.released_later: list[str] = []      # orders released by auto-confirm after the clock moves
        self.closing_cases: list[str] = []        # cases in verification, closed after the clock moves
        self.frozen_cases: list[str] = []         # of them, those whose hold they froze (shipped, not released)

    async def contact(self, party: str, party_id: str, n: int) -> None:
        """Where the party is told things: SMS and e-mail (delivered to the messaging simulator)."""
        await self.p.send("notifications", "notifications.contact.register", {
            "party": party, "party_id": party_id, "phone": f"138{n % 10**8:08d}", "email": f"{party_id.lower()}@example.com"},
            (party, party_id), party_id)

    async def paid(self, n: int, merchant: str = MERCHANT, amount: int = 12900) -> tuple[str, str]:
        order, buyer = f"O-CH-{self.tag}-{n}", f"B-CH-{self.tag}-{n}"
        await self.contact("buyer", buyer, n)
        await self.p.act("payments", "payments.order.create", {
            "order_id": order, "merchant_id": merchant, "buyer_id": buyer,
            "items": [{"sku": "SKU-1", "name": "chaos", "quantity": 1, "unit_price": amount}],
            "amount": {"amount": amount, "currency": "CNY"}, "guaranteed": True, "auto_confirm_days": 7},
            ("merchant", merchant), order, "payments.order.created", order_id=order)
        await self.p.act("payments", "payments.order.pay", {"order_id": order, "method": "qr_code"}, ("buyer", buyer), order,
                         "escrow.hold.created", order_id=order)
        return order, buyer

    async def shipped(self, n: int, merchant: str = MERCHANT) -> tuple[str, str]:
        order, buyer = await self.paid(n, merchant)
        await self.p.act("escrow", "escrow.shipment.record", {"order_id": order, "carrier": "SF", "tracking_no": f"SF{n}"},
                         ("merchant", merchant), order, "escrow.shipment.recorded", order_id=order)
        return order, buyer

    async def confirmed(self, order: str, buyer: str) -> dict[str, Any]:
        return await self.p.act("escrow", "escrow.receipt.confirm", {"order_id": order}, ("buyer", buyer), order,
                                "escrow.hold.released", order_id=order)

    async def open_case(self, n: int, order: str, buyer: str, amount: int) -> str:
        case = f"C-CH-{self.tag}-{n}"
        await self.p.act("disputes", "disputes.case.open", {
            "case_id": case, "order_id": order, "reason": "not_as_described", "requested": {"amount": amount, "currency": "CNY"},
            "description": "与描述不符 / not as described",
            "evidence": [{"reference": f"evidence/{case}.jpg", "sha256": "0" * 64, "description": "photo"}]},
            ("buyer", buyer), order, "disputes.case.opened", case_id=case)
        self.closing_cases.append(case)
        return case

    async def happy(self, n: int) -> None:
        await self.confirmed(*await self.shipped(n))

    async def auto_confirm(self, n: int) -> None:
        order, _ = await self.shipped(n)
        self.released_later.append(order)

    async def cancel(self, n: int) -> None:
        if n % 4 == 0:  # the merchant cancels before the buyer paid
            order = f"O-CH-{self.tag}-{n}"
            await self.p.act("payments", "payments.order.create", {
                "order_id": order, "merchant_id": MERCHANT, "buyer_id": f"B-CH-{self.tag}-{n}",
                "items": [{"sku": "SKU-2", "name": "chaos", "quantity": 2, "unit_price": 500}],
                "amount": {"amount": 1000, "currency": "CNY"}, "guaranteed": True},
                ("merchant", MERCHANT), order, "payments.order.created", order_id=order)
            await self.p.act("payments", "payments.order.cancel", {"order_id": order, "reason": "out_of_stock"},
                             ("merchant", MERCHANT), order, "payments.order.cancelled", order_id=order)
            return
        order, buyer = await self.paid(n)
        await self.p.act("payments", "payments.order.cancel", {"order_id": order, "reason": "changed_mind"}, ("buyer", buyer),
                         order, "escrow.hold.refunded", order_id=order)
        await self.p.wait("payments.order.cancelled", order_id=order)

    async def refund(self, n: int) -> None:
        order, buyer = await self.shipped(n)
        case = await self.open_case(n, order, buyer, 3800)
        self.frozen_cases.append(case)
        self.released_later.append(order)  # the rest of the hold, when the resumed countdown ends
        await self.p.act("disputes", "disputes.case.respond", {"case_id": case, "response": "accept"}, ("merchant", MERCHANT),
                         order, "escrow.case_refund.executed", case_id=case)

    async def dispute(self, n: int) -> None:
        order, buyer = await self.shipped(n)
        case = await self.open_case(n, order, buyer, 12900)
        self.frozen_cases.append(case)
        await self.p.act("disputes", "disputes.case.respond", {"case_id": case, "response": "reject", "note": "请先退货"},
                         ("merchant", MERCHANT), order, "disputes.negotiation.failed", case_id=case)
        await self.p.act("disputes", "disputes.case.escalate", {"case_id": case}, ("buyer", buyer), order,
                         "disputes.case.escalated", case_id=case)
        await self.p.act("disputes", "disputes.case.rule", {"case_id": case, "decision": "full_refund",
                                                             "reasons": "未妥投 / not delivered"},
                         ("arbitrator", "ARB-1"), order, "escrow.case_refund.executed", case_id=case)

    async def compensation(self, n: int) -> None:
        async with self.compensation_turn:
            order, buyer = await self.shipped(n, COMPENSATION_MERCHANT)
            released = await self.confirmed(order, buyer)
            payout = f"PO-CH-{self.tag}-{n}"
            available = released["data"]["net"] - released["data"]["recovered"]
            if available > 0:  # the merchant withdraws what the sale brought
                await self.p.act("payments", "payments.payout.request", {
                    "payout_id": payout, "merchant_id": COMPENSATION_MERCHANT, "amount": {"amount": available, "currency": "CNY"}},
                    ("merchant", COMPENSATION_MERCHANT), COMPENSATION_MERCHANT, "escrow.payout.reserved", payout_id=payout)
            case = await self.open_case(n, order, buyer, 12900)
            executed = await self.p.act("disputes", "disputes.case.respond", {"case_id": case, "response": "accept"},
                                       ("merchant", COMPENSATION_MERCHANT), order, "escrow.case_refund.executed", case_id=case)
            if executed["data"]["shortfall"] > 0:
                paid = await self.p.wait("escrow.compensation.paid", case_id=case)
                await self.p.wait("disputes.claim.paid", claim_id=paid["data"]["compensation_id"].replace("CP-", "CL-", 1))

    RUN = {"happy": happy, "auto-confirm": auto_confirm, "cancel": cancel, "refund": refund, "dispute": dispute,
           "compensation": compensation}


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
            elif await asyncio.to_thread(ready, process.health_url):
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


async def drive(platform: LocalPlatform, count: int, rate: float, kill_every: float, cut_every: float,
                max_kills: int | None = None, seed: int = 1, concurrency: int = 40, wait_timeout: float = 240) -> ChaosReport:
    """Run ``count`` lifecycles on a started (cuttable, test-mode) platform under faults; then settle and audit."""
    from ops.audit import audit

    assert platform.broker is not None
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

    async def one(n: int, kind: str) -> None:
        async with gate:
            try:
                await Lifecycles.RUN[kind](lives, n)
                report.completed[kind] += 1
            except Stuck as exc:
                report.stuck.append(f"{kind} #{n}: {exc}")

    try:
        kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=count)
        tasks = []
        for n, kind in enumerate(kinds):
            report.lifecycles[kind] += 1
            tasks.append(asyncio.create_task(one(n, kind)))
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
        await asyncio.gather(*tasks)
        report.seconds["lifecycles"] = time.monotonic() - started
        for task in fault_tasks:
            task.cancel()
        await asyncio.gather(*fault_tasks, return_exceptions=True)
        await faults.all_up()
        settled = time.monotonic()
        await settle(p, lives, report)
        report.seconds["settle"] = time.monotonic() - settled
        report.send_retries = p.send_retries
        report.events = p.messages
    finally:
        for task in fault_tasks:
            task.cancel()
        await p.stop()
    logs = [platform.processes[s].log_path.read_bytes() for s in SERVICES]
    report.redelivered = sum(len(DUPLICATE.findall(log)) for log in logs)
    report.parked = sum(len(PARKED.findall(log)) for log in logs)
    report.audit = await audit(platform.broker.bootstrap)
    report.republished = report.audit.redelivered
    report.ledger_problems = await ledger_problems(platform.data_dir)
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
              max_kills: int | None = None, seed: int = 1, data_dir: Path | None = None, wait_timeout: float = 240) -> ChaosReport:
    """A fresh cuttable platform in test mode on SQLite files (in a temporary folder unless ``data_dir``)."""
    with tempfile.TemporaryDirectory(prefix="danbao-chaos-") as tmp:
        platform = LocalPlatform(data_dir=data_dir or Path(tmp), cuttable=True,
                                 extra_env={"DANBAO_MODE": "test", "DANBAO_LOG_LEVEL": "INFO"})
        platform.start(ready_timeout=90)
        try:
            return asyncio.run(drive(platform, count, rate, kill_every, cut_every, max_kills, seed, wait_timeout=wait_timeout))
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
    report = run_chaos(count, rate, kill_every, cut_every, max_kills, seed)
    for part in audit_tables(report.audit):
        console.print(part)
    console.print(render(report))
    for line in report.stuck[:20]:
        console.print(f"[red]stuck: {line}[/red]")
    return report
