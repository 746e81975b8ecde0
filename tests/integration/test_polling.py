"""On the real broker (Tansu), a record that arrives just after a poll found nothing is read at once, not after
a pause as long as the poll wait (shared.polling). FastStream's own batch subscriber sleeps that long."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from ops.broker import TansuBroker
from shared.polling import prompt
from tests.integration.conftest import bare_broker

pytestmark = pytest.mark.integration
TOPIC = "danbao.poll-test.commands"
POLL_WAIT_MS = 4000


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[TansuBroker]:
    async with bare_broker(tmp_path, [TOPIC], partitions=1) as running:
        yield running


async def test_a_record_after_an_empty_poll_is_read_without_waiting_out_the_poll(broker: TansuBroker) -> None:
    kafka = KafkaBroker(broker.bootstrap)
    subscriber = prompt(kafka.subscriber(TOPIC, group_id="danbao-poll-test", batch=True, batch_timeout_ms=POLL_WAIT_MS,
                                         fetch_max_wait_ms=20, auto_offset_reset="earliest"))
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[float] = loop.create_future()
    empty = asyncio.Event()

    @subscriber
    async def handle(bodies: list[Any]) -> None:
        if not arrived.done():
            arrived.set_result(loop.time())

    await kafka.start()
    try:
        consumer = subscriber.consumer
        original = consumer.getmany

        async def watched(*args: Any, **kwargs: Any) -> Any:
            found = await original(*args, **kwargs)
            if not found:
                empty.set()  # a poll found nothing: FastStream's subscriber would now pause for the poll wait
            return found

        consumer.getmany = watched
        await asyncio.wait_for(empty.wait(), timeout=3 * POLL_WAIT_MS / 1000)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            sent_at = loop.time()
            await producer.send_and_wait(TOPIC, b'{"n": 1}')
        finally:
            await producer.stop()
        read_at = await asyncio.wait_for(arrived, timeout=3 * POLL_WAIT_MS / 1000)
    finally:
        await kafka.stop()
    assert read_at - sent_at < POLL_WAIT_MS / 1000 / 2, read_at - sent_at
