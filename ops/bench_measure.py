"""The bench's measurements: each process's CPU (idle, at full speed), waiting for the platform to be idle again,
and the raw aiokafka produce → consume baseline on the same broker."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console

from ops.bench_driver import Driver, Lifecycle, run_lifecycles
from ops.broker import create_topics
from ops.platform import LocalPlatform
from ops.progress import Board
from shared.kafka_security import aiokafka_options

IDLE_SECONDS = 5.0


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


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process spent between two ``cpu_seconds`` readings, busiest first."""
    return dict(sorted(((name, after[name] - before.get(name, 0.0)) for name in after), key=lambda kv: -kv[1]))


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
class RateRun:
    """Lifecycles started at a fixed rate, and each process's CPU meanwhile."""

    lives: list[Lifecycle]
    elapsed: float
    cpu: dict[str, float]  # share of one core per process during the run


async def rate_run(driver: Driver, rate: float, seconds: float, pids: dict[str, int], step: Any = None,
                   timeout: float = 120) -> RateRun:
    """``rate × seconds`` lifecycles started at ``rate`` per second, and what each process spent meanwhile."""
    before, started = cpu_seconds(pids), time.perf_counter()
    lives, _, _ = await run_lifecycles(driver, int(rate * seconds), rate, timeout, step)
    spent, elapsed = cpu_spent(before, cpu_seconds(pids)), time.perf_counter() - started
    return RateRun(lives, elapsed, {name: seconds / elapsed for name, seconds in spent.items()})


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


async def warm_up(driver: Driver, board: Board, what: str = "platform") -> None:
    """Twenty lifecycles at once, so caches are hot and connections open before anything is measured."""
    warm, _, _ = await run_lifecycles(driver, 20, None, 60, board.step(f"{what}: warm-up lifecycles", 20))
    if not all(life.done.is_set() for life in warm):
        raise RuntimeError(f"the warm-up's lifecycles did not finish in 60 s ({sum(l.done.is_set() for l in warm)}/20)")


async def full_speed(driver: Driver, count: int, pids: dict[str, int], idle_seconds: float = IDLE_SECONDS,
                     board: Board | None = None, what: str = "platform", warm: bool = True) -> FullSpeed:
    """The processes' CPU when idle, then ``count`` lifecycles at once; first the warm-up unless ``warm`` is false
    (the caller warmed the platform up itself)."""
    board = board or Board(Console(quiet=True))
    if warm:
        await warm_up(driver, board, what)
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
        spent=cpu_spent(cpu_before, cpu_after),
        idle={name: seconds / idle_elapsed for name, seconds in cpu_spent(idle_before, idle_after).items()},
        idle_total=sum(idle_after.values()) - sum(idle_before.values()), idle_elapsed=idle_elapsed)


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


def token_verification_us(n: int = 2000) -> dict[str, float]:
    """Microseconds to check one command token's signature and claims as a service does (``sodium``: the registry
    the services use, libsodium for Ed25519), and through joserfc's own Ed25519 (``openssl``), timed in turns, the
    best of three rounds each."""
    from joserfc import jwt

    from shared.assertions import ALGORITHMS, REGISTRY, development_issuers, development_signer

    token = development_signer("buyer-app").issue(kind="buyer", subject="B-1", type_="payments.order.pay",
                                                  data={"order_id": "O-1", "method": "qr_code"})
    keys = development_issuers()["buyer-app"].keys
    ways = {"sodium": lambda: jwt.decode(token, keys, registry=REGISTRY),
            "openssl": lambda: jwt.decode(token, keys, algorithms=ALGORITHMS)}
    best = {name: float("inf") for name in ways}
    for _ in range(3):
        for name, way in ways.items():
            way()
            started = time.perf_counter()
            for _ in range(n):
                way()
            best[name] = min(best[name], (time.perf_counter() - started) / n * 1e6)
    return best
