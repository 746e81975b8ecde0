"""A service started while the broker is away waits for it (``DANBAO_BROKER_WAIT_SECONDS``) instead
of failing its start-up: the chaos run restarts services while every connection is cut."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from shared import runtime


class FlakyProducer:
    """Fails to start while the broker is "away" (the first ``failures`` attempts)."""

    made: list[FlakyProducer] = []
    failures = 2

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.started = self.stopped = False
        FlakyProducer.made.append(self)

    async def start(self) -> None:
        if len(FlakyProducer.made) <= FlakyProducer.failures:
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


async def test_a_producer_is_started_once_the_broker_answers_and_each_failed_attempt_is_closed(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(runtime, "AIOKafkaProducer", FlakyProducer)
    FlakyProducer.made = []
    producer = await runtime.started_producer("127.0.0.1:9092", "danbao-escrow-relay", 10, acks="all")
    assert producer is FlakyProducer.made[2] and producer.started and not producer.stopped
    assert [p.stopped for p in FlakyProducer.made[:2]] == [True, True]
    assert producer.options == {"bootstrap_servers": "127.0.0.1:9092", "client_id": "danbao-escrow-relay", "acks": "all"}
    assert caplog.text.count("danbao-escrow-relay cannot reach the broker yet") == 2


async def test_without_a_broker_the_start_gives_up_after_the_wait() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(KafkaConnectionError):
        await runtime.started_producer(f"127.0.0.1:{port}", "danbao-payments-probe", 1.2)
    assert time.monotonic() - started >= 1.2
