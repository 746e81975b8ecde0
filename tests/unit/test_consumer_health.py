"""A process's consumer health (``shared.health``): lag per group and partition, failed batches, and
when a consumer counts as stuck for readiness."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from shared.health import ConsumerHealth

A0, A1, B0 = TopicPartition("danbao.a", 0), TopicPartition("danbao.a", 1), TopicPartition("danbao.b", 0)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int


class FakeConsumer:
    """What ``refresh`` asks an aiokafka consumer: assignment, committed offsets, end offsets, high watermarks."""

    def __init__(self, assigned: set[TopicPartition], committed: dict[TopicPartition, int | None],
                 ends: dict[TopicPartition, int], highwater: dict[TopicPartition, int] | None = None,
                 firsts: dict[TopicPartition, int] | None = None) -> None:
        self.assigned, self.committed_offsets, self.ends = assigned, committed, ends
        self.highwaters, self.firsts = highwater or {}, firsts or {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in partitions}

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.firsts.get(tp, 0) for tp in partitions}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _health(stall: float = 60.0) -> tuple[ConsumerHealth, CollectorRegistry, Clock]:
    registry, clock = CollectorRegistry(), Clock()
    return ConsumerHealth("danbao-payments", registry, stall, clock=clock), registry, clock


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_lag_is_end_minus_position_per_partition_and_a_short_end_offset_is_corrected() -> None:
    health, registry, _ = _health()
    # Tansu reported 373 as A0's end while the last fetch saw 404 records: the fetch's high watermark counts.
    consumer = FakeConsumer({A0, A1, B0}, {A0: 300, A1: None, B0: 7}, {A0: 373, A1: 50, B0: 7}, highwater={A0: 404},
                            firsts={A1: 20})
    await health.refresh(consumer)
    assert _sample(registry, "danbao_consumer_lag", group="danbao-payments", topic="danbao.a", partition="0") == 104
    assert _sample(registry, "danbao_consumer_lag", group="danbao-payments", topic="danbao.a", partition="1") == 30  # from its first offset
    assert _sample(registry, "danbao_consumer_lag", group="danbao-payments", topic="danbao.b", partition="0") == 0
    assert health.behind == 134

    # Records this process handled count before the broker's committed offset has caught up; never a negative lag.
    health.batch_handled([Record("danbao.a", 0, offset) for offset in range(300, 420)])
    await health.refresh(consumer)
    assert _sample(registry, "danbao_consumer_lag", group="danbao-payments", topic="danbao.a", partition="0") == 0

    # A partition revoked in a rebalance is no longer reported.
    consumer.assigned = {B0}
    await health.refresh(consumer)
    assert _sample(registry, "danbao_consumer_lag", group="danbao-payments", topic="danbao.a", partition="0") is None
    assert health.positions == {}


async def test_a_consumer_with_lag_and_no_batch_handled_for_longer_than_the_threshold_is_stuck() -> None:
    health, registry, clock = _health(stall=60)
    assert health.problems() == []  # not started yet: the start-up phase speaks for itself
    health.started()
    health.set_lag({A0: 5})
    clock.now += 59
    assert health.problems() == []
    for _ in range(3):
        health.batch_failed(RuntimeError("database is locked"))
    clock.now += 2
    (problem,) = health.problems()
    assert "danbao-payments is stuck: 5 records behind and no batch handled for 61 s" in problem
    assert "3 failed batches in a row, the last: RuntimeError: database is locked" in problem
    assert _sample(registry, "danbao_consumer_failed_batches_total", group="danbao-payments") == 3

    health.batch_handled([Record("danbao.a", 0, 10)])  # one batch gets through: not stuck, failures reset
    assert health.problems() == [] and health.failures_in_a_row == 0
    assert _sample(registry, "danbao_consumer_batches_total", group="danbao-payments") == 1
    assert _sample(registry, "danbao_consumer_last_batch_timestamp_seconds", group="danbao-payments") > 0


async def test_a_quiet_consumer_is_not_stuck_when_work_arrives() -> None:
    """Hours without messages, then a burst: progress is counted from the last time it had no lag."""
    health, _, clock = _health(stall=60)
    health.started()
    health.set_lag({A0: 0})
    clock.now += 3600
    health.set_lag({A0: 0})  # the refresh just before the burst
    clock.now += 10
    health.set_lag({A0: 500})
    assert health.problems() == []
    clock.now += 61
    assert health.problems() and health.summary()["lag"] == 500


async def test_lag_needs_no_stuck_consumer_to_be_exported() -> None:
    health, registry, _ = _health()
    health.set_lag({A0: 3, B0: 0})
    scraped = generate_latest(registry).decode()
    assert 'danbao_consumer_lag{group="danbao-payments",partition="0",topic="danbao.a"} 3.0' in scraped
    assert 'danbao_consumer_lag{group="danbao-payments",partition="0",topic="danbao.b"} 0.0' in scraped
