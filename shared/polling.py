"""Batch subscribers that poll promptly: a poll returns as soon as records arrive, and an empty one is not
followed by a pause.

FastStream's batch subscriber asks aiokafka for records with ``getmany(timeout_ms=batch_timeout_ms)``, which
returns as soon as the fetcher has records, and after a poll that found nothing it sleeps as long again. A record
arriving during that sleep waits for it, so a long timeout added its length to a step's latency, and a short one
(5 ms on the payment path) cost a poll every 10 ms while idle. Here the sleep is gone: the timeout only bounds how
long a poll waits for records that do not come, so a long one costs no latency and few polls while idle (the
subscriber's loop still checks whether it is stopping between polls).

``prompt(subscriber)`` gives a subscriber made by ``broker.subscriber(..., batch=True)`` this behaviour. It relies
on FastStream's ``BatchSubscriber.get_msg`` (faststream is pinned; ``tests/unit/test_polling.py`` checks it).
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from faststream.kafka.subscriber.usecase import BatchSubscriber


class PromptBatchSubscriber(BatchSubscriber):
    """FastStream's batch subscriber without the pause after an empty poll."""

    __slots__ = ()

    async def get_msg(self, consumer: Any) -> tuple[Any, ...]:
        assert consumer, "You should setup subscriber at first."
        # aiokafka's getmany waits up to the timeout for the fetcher to hand over records, and no longer.
        messages = await consumer.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
        return tuple(chain(*messages.values())) if messages else ()


def prompt(subscriber: Any) -> Any:
    """The batch ``subscriber``, now polling promptly (see the module's description)."""
    if type(subscriber) is not BatchSubscriber:
        raise TypeError(f"a batch subscriber was expected, not {type(subscriber).__name__}")
    subscriber.__class__ = PromptBatchSubscriber
    return subscriber
