"""Reading the audited topics from the broker, every partition, from the beginning."""

from __future__ import annotations

import json
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from ops.audit.core import TOPICS
from shared.kafka_security import aiokafka_options


def _decode(value: bytes | None) -> Any:
    try:
        return json.loads(value) if value is not None else None
    except ValueError:
        return value  # counted as ignored


async def read_events(bootstrap: str, idle_timeout: float = 2.0, quiet: float = 3.0) -> list[Any]:
    """Every record of the audited topics (all partitions) from the beginning: up to the end offsets they had
    when the read started, then on until nothing more comes (the platform is meant to be quiet).
    Raises TimeoutError if nothing arrives for ``idle_timeout`` seconds before those end offsets."""
    # A fetch Tansu answers with an out-of-range offset resets the position: to the beginning, never past the records.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                **aiokafka_options())
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, n) for topic in TOPICS for n in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        messages: list[Any] = []
        last_record = time.monotonic()
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=200)
            for tp, records in batch.items():
                messages += [_decode(record.value) for record in records]
                last_record = time.monotonic() if records else last_record
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
            if pending and time.monotonic() - last_record > idle_timeout:
                raise TimeoutError(f"nothing read for {idle_timeout}s before the end of {sorted(map(str, pending))}")
        # Tansu answers the end offset with the last record batch's first offset + 1, so the rest of that
        # batch lies beyond it: read on until nothing more has come for ``quiet`` seconds (one empty
        # fetch is not enough: a slow answer for a big batch can come after a poll's timeout).
        last_record = time.monotonic()
        while time.monotonic() - last_record < quiet:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                messages += [_decode(record.value) for record in records]
                last_record = time.monotonic() if records else last_record
        return messages
    finally:
        await consumer.stop()
