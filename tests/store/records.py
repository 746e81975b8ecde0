"""A Kafka record as the consumer path reads it, for the store tests that drive ``MessageConsumer`` directly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeRecord:
    value: bytes | None
    offset: int
    topic: str = "danbao.payments.commands"
    partition: int = 0
    key: bytes | None = b"O-1"
    timestamp: int = 1_763_000_000_000
    headers: tuple[tuple[str, bytes], ...] = ()
