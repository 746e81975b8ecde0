"""The consumer lag a process exports, measured against the real broker (Tansu): per partition, the
records present minus those the group handled, whatever end offset the broker reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from ops.broker import TansuBroker
from shared.health import ConsumerHealth
from tests.integration.conftest import bare_broker

pytestmark = pytest.mark.integration
TOPIC = "danbao.lag-test.commands"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[TansuBroker]:
    async with bare_broker(tmp_path, [TOPIC], partitions=2) as running:
        yield running


async def _present(bootstrap: str) -> dict[TopicPartition, int]:
    """How many records each partition holds, counted by reading them all."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(2)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        counted = {tp: 0 for tp in partitions}
        quiet = 0
        while quiet < 3:
            batch = await reader.getmany(timeout_ms=300)
            quiet = 0 if batch else quiet + 1
            for tp, records in batch.items():
                counted[tp] += len(records)
        return counted
    finally:
        await reader.stop()


async def test_lag_per_partition_is_what_the_group_has_not_handled(broker: TansuBroker) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(TOPIC, b"{}", key=f"O-{n}".encode()) for n in range(60)])
    finally:
        await producer.stop()
    present = await _present(broker.bootstrap)
    assert sum(present.values()) == 60

    health = ConsumerHealth("danbao-lag-test", CollectorRegistry(), stall_seconds=60)
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=broker.bootstrap, group_id="danbao-lag-test",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        handled: list = []
        while len(handled) < 10:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10 - len(handled))).values():
                handled += records
        await consumer.commit()
        health.started()
        await health.refresh(consumer)
        assert set(health.lag) == {TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)}
        done = {tp: sum(1 for r in handled if r.partition == tp.partition) for tp in present}
        assert health.lag == {tp: present[tp] - done[tp] for tp in present}
        assert health.behind == 50

        # Handled but not yet committed at the broker: counted already (the commit follows the batch).
        more = [r for records in (await consumer.getmany(timeout_ms=1000, max_records=50)).values() for r in records]
        health.batch_handled(more)
        await health.refresh(consumer)
        assert health.behind == 50 - len(more)
    finally:
        await consumer.stop()
