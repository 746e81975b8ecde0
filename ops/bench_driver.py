"""The bench's driver: a guaranteed-trade lifecycle sent step by step by a plain Kafka client, and its latencies.

A lifecycle is create order → pay (QR) → hold created → ship → confirm receipt → hold released,
each step sent when the previous step's event arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ops.kafka import command
from ops.progress import Step
from shared.kafka_security import aiokafka_options

STEPS = ("create→order.created", "pay→payment.succeeded", "succeeded→hold.created", "ship→shipment.recorded", "confirm→hold.released")
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


async def run_lifecycles(driver: Driver, count: int, rate: float | None, timeout: float,
                         step: Step | None = None) -> tuple[list[Lifecycle], float, int]:
    events_before = driver.events
    started = time.perf_counter()
    lives = []

    async def finished(life: Lifecycle) -> None:
        await life.done.wait()
        if step is not None:
            step.advance()  # as each finishes, also while later ones are still being started

    waiting = []
    for n in range(count):
        if rate:
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        lives.append(await driver.begin(n))
        waiting.append(asyncio.ensure_future(finished(lives[-1])))
    try:
        await asyncio.wait_for(asyncio.gather(*waiting), timeout)
    except TimeoutError:
        pass
    if step is not None:
        step.done()
    elapsed = time.perf_counter() - started
    return lives, elapsed, driver.events - events_before
