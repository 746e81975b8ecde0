"""Small plain-Kafka helpers for the operator commands: publish one record, read a topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from ops.identity import sign
from shared.kafka_security import aiokafka_options


async def publish(bootstrap: str, topic: str, value: bytes, key: str | None) -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **aiokafka_options())
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value, key=key.encode() if key else None)
        return meta.partition, meta.offset
    finally:
        await producer.stop()


async def read(bootstrap: str, topic: str, *, from_beginning: bool = True, idle_timeout: float = 0) -> AsyncIterator[ConsumerRecord]:
    """Every record of ``topic`` (no consumer group); stops after ``idle_timeout`` quiet seconds if set."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **aiokafka_options())
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        quiet_since = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            records = [r for rs in batch.values() for r in rs]
            for record in records:
                yield record
            if records:
                quiet_since = time.monotonic()
            elif idle_timeout and time.monotonic() - quiet_since > idle_timeout:
                return
    finally:
        await consumer.stop()


def command(type_: str, data: dict[str, Any], actor: tuple[str, str], producer: str, correlation_id: str) -> bytes:
    """A command envelope as an outside system would publish it (a fresh event id, version 1, now), with a
    token for its actor (``ops.identity``)."""
    return json.dumps(sign({
        "event_id": str(uuid.uuid4()), "type": type_, "version": 1, "occurred_at": datetime.now(timezone.utc).isoformat(),
        "producer": producer, "correlation_id": correlation_id, "actor": {"kind": actor[0], "id": actor[1]}, "data": data,
    }), ensure_ascii=False).encode()
