"""Prompt batch polls (shared.polling): an empty poll is not followed by a pause, records come back as one batch,
and only FastStream's batch subscriber can be made prompt."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.polling import PromptBatchSubscriber, prompt


class FakeConsumer:
    def __init__(self, answers: list[dict[str, list[str]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[int, int | None]] = []

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> dict[str, list[str]]:
        self.calls.append((timeout_ms, max_records))
        return self.answers.pop(0)


def _subscriber(broker: KafkaBroker, wait_ms: int = 200) -> Any:
    return prompt(broker.subscriber("danbao.poll-test", group_id="g", batch=True, max_records=7, batch_timeout_ms=wait_ms))


async def test_an_empty_poll_returns_at_once_without_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(anyio, "sleep", sleep)
    subscriber = _subscriber(KafkaBroker())
    consumer = FakeConsumer([{}, {"tp-0": ["r1", "r2"], "tp-1": ["r3"]}])
    assert await subscriber.get_msg(consumer) == ()
    assert await subscriber.get_msg(consumer) == ("r1", "r2", "r3")
    assert consumer.calls == [(200, 7), (200, 7)]  # the poll wait bounds aiokafka's own wait
    assert slept == []


def test_only_a_batch_subscriber_can_be_made_prompt() -> None:
    broker = KafkaBroker()
    assert isinstance(_subscriber(broker), PromptBatchSubscriber)
    with pytest.raises(TypeError, match="batch subscriber"):
        prompt(broker.subscriber("danbao.poll-test", group_id="g"))


async def test_a_prompt_subscriber_still_hands_its_handler_the_batch() -> None:
    broker = KafkaBroker()
    got: list[Any] = []

    @_subscriber(broker)
    async def handle(bodies: list[Any]) -> None:
        got.extend(bodies)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch({"n": 1}, {"n": 2}, topic="danbao.poll-test")
    assert got == [{"n": 1}, {"n": 2}]
