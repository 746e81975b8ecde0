"""What a process knows of its own consumer: lag per group and partition, failed batches, and whether
it is stuck, for ``/metrics`` and ``/health/ready``. Services and simulators share it.

**Lag** of a partition = its end offset − the group's position there, refreshed every
``DANBAO_LAG_REFRESH_SECONDS`` for the partitions the process is assigned:

- the position is the larger of the offset the broker holds committed for the group and the offset
  after the last record of a batch this process handled (its offsets are committed right after);
  nothing committed yet: the partition's first offset;
- the end offset is the largest of what the broker reports (ListOffsets), the high watermark of the
  consumer's last fetch, and the position. Tansu at times reports an end short of the records it
  holds; the fetch's high watermark and the records handled correct it.

**Stuck**: the consumer has lag and has handled no batch for ``DANBAO_STALL_SECONDS`` (counted from
the later of its last successful batch, the last time it had no lag, and its start): a batch that
fails again and again (the database is down), or a consumer loop that stopped. Readiness then
answers 503 with the reason; the service keeps running and retrying.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger("danbao.health")


class ConsumerHealth:
    def __init__(self, group: str, registry: CollectorRegistry, stall_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.group = group
        self.stall_seconds = stall_seconds
        self.clock = clock
        self._lag_gauge = Gauge(
            "danbao_consumer_lag", "Records not yet handled, per consumer group and partition: the end offset minus the "
            "group's position (refreshed every DANBAO_LAG_REFRESH_SECONDS)", ["group", "topic", "partition"], registry=registry)
        self._failed = Counter("danbao_consumer_failed_batches", "Batches whose handling failed (to be retried), per consumer group",
                               ["group"], registry=registry).labels(group)
        self._handled = Counter("danbao_consumer_batches", "Batches handled and committed, per consumer group",
                                ["group"], registry=registry).labels(group)
        self._last_success = Gauge("danbao_consumer_last_batch_timestamp_seconds",
                                   "When the consumer group last handled a batch (Unix time; 0: not yet)",
                                   ["group"], registry=registry).labels(group)
        self.positions: dict[TopicPartition, int] = {}  # after the last record handled, per partition
        self.lag: dict[TopicPartition, int] = {}
        self.started_at: float | None = None
        self.last_success: float | None = None
        self.caught_up_at: float | None = None  # the last refresh that found no lag
        self.failures_in_a_row = 0
        self.last_error: str | None = None
        self.lag_error: str | None = None  # why the last refresh failed, if it did

    # -- what the subscriber reports ----------------------------------------------------------

    def started(self) -> None:
        self.started_at = self.clock()

    def batch_handled(self, records: Sequence[Any]) -> None:
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self.positions[tp] = max(self.positions.get(tp, 0), record.offset + 1)
        self.last_success = self.clock()
        self.failures_in_a_row = 0
        self._handled.inc()
        self._last_success.set(time.time())

    def batch_failed(self, exc: BaseException) -> None:
        self.failures_in_a_row += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self._failed.inc()

    # -- lag ----------------------------------------------------------------------------------

    async def refresh(self, consumer: Any) -> None:
        """Measure the lag of every partition ``consumer`` (an aiokafka consumer) is assigned."""
        assigned = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
        for tp in [tp for tp in self.positions if tp not in assigned]:
            del self.positions[tp]  # revoked: another member's now
        lag: dict[TopicPartition, int] = {}
        if assigned:
            committed = await asyncio.gather(*(consumer.committed(tp) for tp in assigned))
            ends = await consumer.end_offsets(assigned)
            fresh = [tp for tp, offset in zip(assigned, committed, strict=True) if offset is None and tp not in self.positions]
            firsts = await consumer.beginning_offsets(fresh) if fresh else {}
            for tp, offset in zip(assigned, committed, strict=True):
                position = max(offset if offset is not None else firsts.get(tp, 0), self.positions.get(tp, 0))
                end = max(ends.get(tp, 0), consumer.highwater(tp) or 0, position)
                lag[tp] = end - position
        self.set_lag(lag)

    def set_lag(self, lag: dict[TopicPartition, int]) -> None:
        for tp in set(self.lag) - set(lag):
            self._lag_gauge.remove(self.group, tp.topic, str(tp.partition))
        for tp, behind in lag.items():
            self._lag_gauge.labels(self.group, tp.topic, str(tp.partition)).set(behind)
        self.lag = lag
        self.lag_error = None
        if not any(lag.values()):
            self.caught_up_at = self.clock()

    async def watch(self, consumer: Callable[[], Any], every: float) -> None:
        """Refresh the lag every ``every`` seconds while the process runs (``consumer()``: the current consumer, or None)."""
        while True:
            current = consumer()
            if current is not None:
                try:
                    await asyncio.wait_for(self.refresh(current), timeout=max(every, 5.0))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a failed measurement is reported, never fatal
                    self.lag_error = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning("could not measure the consumer lag of %s: %s", self.group, self.lag_error)
            await asyncio.sleep(every)

    # -- readiness ----------------------------------------------------------------------------

    @property
    def behind(self) -> int:
        return sum(self.lag.values())

    def idle_seconds(self) -> float | None:
        """Seconds since the consumer last made progress (handled a batch, or had nothing to do); None before it started."""
        marks = [m for m in (self.started_at, self.last_success, self.caught_up_at) if m is not None]
        return self.clock() - max(marks) if marks else None

    def problems(self) -> list[str]:
        """Why the consumer makes readiness fail: lag, and no batch handled for longer than the threshold."""
        idle = self.idle_seconds()
        if idle is None or not self.behind or idle <= self.stall_seconds:
            return []
        reason = (f"consumer {self.group} is stuck: {self.behind} records behind and no batch handled for {idle:.0f} s "
                  f"(more than DANBAO_STALL_SECONDS={self.stall_seconds:g})")
        if self.failures_in_a_row:
            reason += f"; {self.failures_in_a_row} failed batches in a row, the last: {self.last_error}"
        return [reason]

    def summary(self) -> dict[str, Any]:
        idle = self.idle_seconds()
        return {"group": self.group, "lag": self.behind, "failed_batches_in_a_row": self.failures_in_a_row,
                "seconds_since_progress": None if idle is None else round(idle, 1),
                **({"lag_error": self.lag_error} if self.lag_error else {})}
