"""Running one service's real subscribers on FastStream's in-memory test broker, and reading
what its outbox relay published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from faststream.kafka import TestKafkaBroker


async def published(runtime: Any, topic: str, type_: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Messages of ``type_`` the runtime's relay published to ``topic`` (after the relay catches up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await runtime.relay.relay_once()
        found = [m for m in runtime.sent if m["topic"] == topic and m["type"] == type_]
        if found or asyncio.get_running_loop().time() > deadline:
            return [m["body"] for m in found]
        await asyncio.sleep(0.02)


class Recorder:
    """Keeps every row the relay publishes in ``runtime.sent``."""

    def __init__(self, runtime: Any) -> None:
        runtime.sent = []
        original = runtime._publish

        async def publish(row: Any) -> Any:
            runtime.sent.append({"topic": row.topic, "type": row.type, "body": json.loads(row.payload)})
            return await original(row)

        runtime.relay.publish = publish


@asynccontextmanager
async def serving(runtime: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The runtime on the test broker, its tables created, its publications recorded."""
    Recorder(runtime)
    async with TestKafkaBroker(runtime.broker) as broker:
        await runtime.start_storage()
        try:
            yield runtime, broker
        finally:
            await runtime.stop()
