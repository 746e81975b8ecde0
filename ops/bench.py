"""`make bench`: guaranteed-trade lifecycles through the real processes, beside the raw broker.

A lifecycle is create order → pay (QR) → hold created → ship → confirm receipt → hold released,
each step sent by a plain Kafka client when the previous step's event arrives. Prints
lifecycles/s and events/s at full speed, p50/p95/p99 latency per step at a fixed rate, and the
raw aiokafka produce → consume baseline on the same broker, with the ratios.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.table import Table

from ops.broker import create_topics
from ops.ceiling import CeilingPlatform
from ops.cli_common import console as progress_console
from ops.kafka import command
from ops.pg import drop_database, service_databases
from ops.platform import DEV_PARTITIONS, SERVICES, LocalPlatform
from ops.progress import Board, Step
from shared.kafka_security import aiokafka_options

STEPS = ("create→order.created", "pay→payment.succeeded", "succeeded→hold.created", "ship→shipment.recorded", "confirm→hold.released")
IDLE_SECONDS = 5.0
WATCHED = {"payments.order.created", "payments.payment.succeeded", "escrow.hold.created", "escrow.shipment.recorded", "escrow.hold.released"}


def _command(type_: str, data: dict, actor: tuple[str, str], order_id: str) -> bytes:
    return command(type_, data, actor, "bench", f"bench-{order_id}")


@dataclass
class Lifecycle:
    order_id: str
    buyer_id: str
    sent: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Driver:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.live: dict[str, Lifecycle] = {}
        self.events = 0
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all", **aiokafka_options())
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20,
                                         **aiokafka_options())
        self._pending: set[asyncio.Future] = set()

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        partitions = [TopicPartition(t, p) for t in ("danbao.payments.events", "danbao.escrow.events")
                      for p in sorted(self.consumer.partitions_for_topic(t) or [])]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.producer.stop()
        await self.consumer.stop()

    async def _send(self, topic: str, order_id: str, value: bytes) -> None:
        future = await self.producer.send(topic, value, key=order_id.encode())
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def begin(self, n: int) -> Lifecycle:
        order_id = f"O-BENCH-{uuid.uuid4().hex[:12]}"
        life = Lifecycle(order_id, f"B-{n}")
        self.live[order_id] = life
        now = time.perf_counter()
        life.sent["create"] = life.sent["pay"] = now
        await self._send("danbao.payments.commands", order_id, _command("payments.order.create", {
            "order_id": order_id, "merchant_id": "M-1001", "buyer_id": f"B-{n}",
            "items": [{"sku": "SKU-1", "name": "bench", "quantity": 1, "unit_price": 12900}],
            "amount": {"amount": 12900, "currency": "CNY"}, "guaranteed": True, "auto_confirm_days": 7,
        }, ("merchant", "M-1001"), order_id))
        await self._send("danbao.payments.commands", order_id, _command(
            "payments.order.pay", {"order_id": order_id, "method": "qr_code"}, ("buyer", f"B-{n}"), order_id))
        return life

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    self.events += 1
                    if dict(record.headers or ()).get("type", b"").decode() not in WATCHED:
                        continue  # every platform event names its type in a header
                    message = json.loads(record.value)
                    life = self.live.get(message["data"].get("order_id", ""))
                    if life is None or message["type"] in life.seen:
                        continue
                    life.seen[message["type"]] = now
                    await self._advance(life, message, now)

    async def _advance(self, life: Lifecycle, message: dict, now: float) -> None:
        kind, order_id = message["type"], life.order_id
        if kind == "escrow.hold.created":
            life.sent["ship"] = now
            await self._send("danbao.escrow.commands", order_id, _command("escrow.shipment.record", {
                "order_id": order_id, "carrier": "SF", "tracking_no": "SF1"}, ("merchant", "M-1001"), order_id))
        elif kind == "escrow.shipment.recorded":
            life.sent["confirm"] = now
            await self._send("danbao.escrow.commands", order_id, _command(
                "escrow.receipt.confirm", {"order_id": order_id}, ("buyer", life.buyer_id), order_id))
        elif kind == "escrow.hold.released":
            life.done.set()


def latencies(lives: list[Lifecycle]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {s: [] for s in STEPS}
    for life in lives:
        pairs = [("create", "payments.order.created"), ("pay", "payments.payment.succeeded"), (None, "escrow.hold.created"),
                 ("ship", "escrow.shipment.recorded"), ("confirm", "escrow.hold.released")]
        for step, (sent, seen) in zip(STEPS, pairs, strict=True):
            start = life.seen.get("payments.payment.succeeded") if sent is None else life.sent.get(sent)
            if start is not None and seen in life.seen:
                out[step].append((life.seen[seen] - start) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def raw_baseline(bootstrap: str, n: int) -> tuple[float, float]:
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    await create_topics(bootstrap, [topic])
    value = b"x" * 315
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all", **aiokafka_options())
    await producer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, value, key=str(i % 64).encode()) for i in range(n)]
    await asyncio.gather(*futures)
    produce_rate = n / (time.perf_counter() - started)
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=f"bench-{uuid.uuid4().hex[:6]}", **aiokafka_options())
    await consumer.start()
    got, started = 0, time.perf_counter()
    while got < n:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        for records in batch.values():
            for r in records:
                json.dumps(r.value.decode())
            got += sum(len(rs) for rs in batch.values())
    consume_rate = n / (time.perf_counter() - started)
    await consumer.stop()
    return produce_rate, consume_rate


async def run_lifecycles(driver: Driver, count: int, rate: float | None, timeout: float,
                         step: Step | None = None) -> tuple[list[Lifecycle], float, int]:
    events_before = driver.events
    started = time.perf_counter()
    lives = []
    for n in range(count):
        if rate:
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        lives.append(await driver.begin(n))
    async def finished(life: Lifecycle) -> None:
        await life.done.wait()
        if step is not None:
            step.advance()

    try:
        await asyncio.wait_for(asyncio.gather(*(finished(life) for life in lives)), timeout)
    except TimeoutError:
        pass
    if step is not None:
        step.done()
    elapsed = time.perf_counter() - started
    return lives, elapsed, driver.events - events_before


def platform_pids(platform: LocalPlatform) -> dict[str, int]:
    """Every process of the platform, the broker, and this driver."""
    pids = {name: p.process.pid for name, p in platform.processes.items() if p.process is not None}
    if platform.broker is not None and platform.broker.process is not None:
        pids["broker (tansu)"] = platform.broker.process.pid
    return {**pids, "bench driver": os.getpid()}


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process has used so far (Linux ``/proc``; empty elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


async def settle(pids: dict[str, int], idle_cpu: float, idle_elapsed: float, timeout: float = 120.0) -> None:
    """Wait until the processes are back to their idle CPU use: whatever the full-speed run left
    queued (notifications, outbox relays) is done, and the latency run measures the latency alone."""
    idle_rate = idle_cpu / idle_elapsed
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        before, started = cpu_seconds(pids), time.perf_counter()
        await asyncio.sleep(1.0)
        after = cpu_seconds(pids)
        if not after or sum(after.values()) - sum(before.values()) <= (idle_rate * 1.25 + 0.05) * (time.perf_counter() - started):
            return


@dataclass
class FullSpeed:
    """One full-speed run: the lifecycles, and each process's CPU during the run and when idle."""

    lives: list[Lifecycle]
    elapsed: float
    events: int
    spent: dict[str, float]  # CPU seconds per process during the run
    idle: dict[str, float]  # share of one core per process when nothing is sent
    idle_total: float  # CPU seconds of all processes over the idle measurement
    idle_elapsed: float

    @property
    def finished(self) -> list[Lifecycle]:
        return [life for life in self.lives if life.done.is_set()]

    @property
    def throughput(self) -> float:
        return len(self.finished) / self.elapsed

    @property
    def cpu_ms_per_lifecycle(self) -> float:
        return sum(self.spent.values()) * 1000 / max(len(self.finished), 1)


async def full_speed(driver: Driver, count: int, pids: dict[str, int], idle_seconds: float = IDLE_SECONDS,
                     board: Board | None = None, what: str = "platform") -> FullSpeed:
    board = board or Board(Console(quiet=True))
    warm, _, _ = await run_lifecycles(driver, 20, None, 60, board.step(f"{what}: warm-up lifecycles", 20))  # caches hot
    if not all(life.done.is_set() for life in warm):
        raise RuntimeError(f"the warm-up's lifecycles did not finish in 60 s ({sum(l.done.is_set() for l in warm)}/20)")
    idle_before, idle_started = cpu_seconds(pids), time.perf_counter()
    idle = board.step(f"{what}: idle CPU for {idle_seconds:.0f} s")
    await asyncio.sleep(idle_seconds)  # what the processes cost doing nothing (polling)
    idle.done()
    idle_after, idle_elapsed = cpu_seconds(pids), time.perf_counter() - idle_started
    cpu_before = cpu_seconds(pids)
    lives, elapsed, events = await run_lifecycles(driver, count, None, 300, board.step(f"{what}: lifecycles at full speed", count))
    cpu_after = cpu_seconds(pids)
    return FullSpeed(
        lives, elapsed, events,
        spent={name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after},
        idle={name: (idle_after.get(name, 0.0) - idle_before.get(name, 0.0)) / idle_elapsed for name in cpu_after},
        idle_total=sum(idle_after.values()) - sum(idle_before.values()), idle_elapsed=idle_elapsed)


def cpu_table(run: FullSpeed, title: str) -> Table:
    table = Table(title=f"{title} ({run.elapsed:.1f}s wall, {os.cpu_count()} cores)")
    for column in ("process", "CPU s", "% of one core", "idle % of one core", "ms per lifecycle", "ms per lifecycle above idle"):
        table.add_column(column, justify="right" if column != "process" else "left")
    done = max(len(run.finished), 1)

    def row(name: str, seconds: float, idle_share: float) -> None:
        table.add_row(name, f"{seconds:.1f}", f"{seconds / run.elapsed * 100:.0f}", f"{idle_share * 100:.0f}",
                      f"{seconds * 1000 / done:.2f}", f"{max(seconds - idle_share * run.elapsed, 0) * 1000 / done:.2f}")

    for name, seconds in sorted(run.spent.items(), key=lambda kv: -kv[1]):
        row(name, seconds, run.idle[name])
    row("all", sum(run.spent.values()), sum(run.idle.values()))
    return table


async def bench(count: int, rate: float, rate_seconds: float, raw_n: int, platform: LocalPlatform,
                board: Board | None = None) -> FullSpeed:
    console = Console()
    board = board or Board(Console(quiet=True))
    assert platform.broker is not None
    bootstrap = platform.broker.bootstrap
    pids = platform_pids(platform)
    driver = Driver(bootstrap)
    await driver.start()
    try:
        run = await full_speed(driver, count, pids, board=board)
        settling = board.step("back to idle CPU")
        await settle(pids, run.idle_total, run.idle_elapsed)
        settling.done()
        paced, _, _ = await run_lifecycles(driver, int(rate * rate_seconds), rate, 120,
                                           board.step(f"latency run at {rate:.0f} lifecycles/s", int(rate * rate_seconds)))
    finally:
        await driver.stop()
    raw = board.step(f"raw aiokafka baseline ({raw_n:,} messages)")
    produce, consume = await raw_baseline(bootstrap, raw_n)
    raw.done()

    finished, elapsed = run.finished, run.elapsed
    throughput, event_rate = run.throughput, run.events / elapsed
    table = Table(title=f"Full speed: {len(finished)}/{count} lifecycles in {elapsed:.1f}s "
                        f"({platform.partitions} partition{'s' if platform.partitions > 1 else ''} per topic, "
                        f"{'PostgreSQL' if 'DANBAO_PAYMENTS_DATABASE_URL' in platform.extra_env else 'SQLite'})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("lifecycles/s", f"{throughput:,.0f}")
    table.add_row("platform events read/s (payments + escrow events)", f"{event_rate:,.0f}")
    table.add_row("raw aiokafka produce msg/s (acks=all, linger 5 ms)", f"{produce:,.0f}")
    table.add_row("raw aiokafka consume msg/s", f"{consume:,.0f}")
    table.add_row("events/s ÷ raw consume", f"{event_rate / consume:.3f}")
    table.add_row("lifecycles/s × 14 messages ÷ raw produce", f"{throughput * 14 / produce:.3f}")
    console.print(table)
    if run.spent:
        console.print(cpu_table(run, "CPU during the full-speed run"))
    lat = latencies([life for life in paced if life.done.is_set()])
    table = Table(title=f"At {rate:.0f} lifecycles/s for {rate_seconds:.0f}s: latency per step (ms), "
                        f"{sum(life.done.is_set() for life in paced)}/{len(paced)} completed")
    for column in ("step", "n", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right" if column != "step" else "left")
    for step, values in lat.items():
        table.add_row(step, str(len(values)), f"{pct(values, 50):.1f}", f"{pct(values, 95):.1f}", f"{pct(values, 99):.1f}",
                      f"{max(values) if values else float('nan'):.1f}")
    console.print(table)
    full = latencies(finished)
    console.print("full-speed p99 per step (ms): " + ", ".join(f"{s} {pct(v, 99):.0f}" for s, v in full.items()))
    console.print(f"mean lifecycle at full speed: {statistics.mean([(max(l.seen.values()) - l.sent['create']) * 1000 for l in finished]):.0f} ms"
                  if finished else "no lifecycle finished")
    return run


async def ceiling(count: int, stand_ins: CeilingPlatform, platform_run: FullSpeed, board: Board | None = None) -> None:
    """The same lifecycles through the stand-ins that do no domain work (``ops.ceiling``)."""
    assert stand_ins.broker is not None
    driver = Driver(stand_ins.broker.bootstrap)
    await driver.start()
    try:
        run = await full_speed(driver, count, {**stand_ins.pids(), "bench driver": os.getpid()}, board=board, what="ceiling")
    except RuntimeError as exc:
        raise RuntimeError(f"ceiling run: {exc}\n{stand_ins.logs()}") from None
    finally:
        await driver.stop()
    console = Console()
    if run.spent:
        console.print(cpu_table(run, "Ceiling: the same lifecycles through stand-ins that do no domain work"))
    table = Table(title="The platform beside the stack's ceiling (FastStream + aiokafka + Tansu, no domain work)")
    for column in ("figure", "platform", "ceiling", "platform ÷ ceiling"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    table.add_row("lifecycles/s", f"{platform_run.throughput:,.0f}", f"{run.throughput:,.0f}",
                  f"{platform_run.throughput / max(run.throughput, 1e-9):.2f}")
    if run.spent and platform_run.spent:
        table.add_row("CPU ms per lifecycle, all processes", f"{platform_run.cpu_ms_per_lifecycle:.2f}",
                      f"{run.cpu_ms_per_lifecycle:.2f}", f"{platform_run.cpu_ms_per_lifecycle / max(run.cpu_ms_per_lifecycle, 1e-9):.2f}")
    console.print(table)


def main(count: int = 3000, rate: float = 100, rate_seconds: float = 20, raw_n: int = 50_000, partitions: int = DEV_PARTITIONS,
         with_ceiling: bool = True, postgres: str | None = None) -> None:
    """``postgres``: a PostgreSQL server URL; the services then keep their data in fresh databases there (dropped
    after the run) instead of SQLite files, as in production."""
    with tempfile.TemporaryDirectory(prefix="danbao-bench-") as scratch, Board(progress_console) as board:
        databases = asyncio.run(service_databases(postgres, SERVICES, "danbao_bench")) if postgres else {}
        platform = LocalPlatform(data_dir=Path(scratch), extra_env={"DANBAO_MODE": "test", "DANBAO_LOG_LEVEL": "WARNING",
                                                                    **databases}, partitions=partitions)
        starting = board.step(f"starting a fresh platform on {'PostgreSQL' if postgres else 'SQLite files'}")
        try:
            platform.start(ready_timeout=90)
            starting.done()
            platform_run = asyncio.run(bench(count, rate, rate_seconds, raw_n, platform, board))
        finally:
            platform.stop()
            for url in databases.values():
                asyncio.run(drop_database(postgres, url))  # type: ignore[arg-type]
        if not with_ceiling:
            return
        stand_ins = CeilingPlatform(Path(scratch) / "ceiling", partitions)
        starting = board.step("starting the ceiling's stand-ins")
        stand_ins.start()
        starting.done()
        try:
            asyncio.run(ceiling(count, stand_ins, platform_run, board))
        finally:
            stand_ins.stop()
