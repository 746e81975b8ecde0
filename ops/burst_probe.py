"""What ``danbao burst`` watches: every topic read from its end on (no consumer group), the events it
waits for, dead letters and rejections, and each consumer group's lag.

**Lag from the records read.** A group's lag on a partition is its end minus the offset the group
committed there. Tansu's ListOffsets answers with end offsets short of the real end at times (373
reported while 404 records were there), so a lag of 0 could be read while the group still had work.
The end used here is the largest of what ListOffsets reports, the offset after the last record the
probe itself read there, and the high watermark of the probe's last fetch; and a lag of 0 counts only
once the probe has read every partition up to that end (``Sample.caught_up``)."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import topics
from shared.kafka_security import aiokafka_options

COMMAND_TOPIC = topics.commands("payments")
READ = [topics.events(s) for s in topics.SERVICES] + [topics.dead_letters(s) for s in topics.SERVICES]


def true_ends(reported: dict[TopicPartition, int], read: dict[TopicPartition, int],
              highwater: dict[TopicPartition, int | None]) -> dict[TopicPartition, int]:
    """Each partition's end: the largest of the reported end offset, the offset after the last record read, the high watermark."""
    return {tp: max(end, read.get(tp, 0), highwater.get(tp) or 0) for tp, end in reported.items()}


def group_lag(ends: dict[TopicPartition, int], committed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """A group's lag per partition it has committed on (an offset below 0: nothing committed there)."""
    return {tp: max(ends.get(tp, 0) - offset, 0) for tp, offset in committed.items() if offset >= 0}


class Probe:
    """Reads every platform topic from its end on, and samples lag."""

    def __init__(self, bootstrap: str, groups: list[str]) -> None:
        self.groups = groups
        self.reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50,
                                       **aiokafka_options())
        self.offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **aiokafka_options())  # end offsets
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **aiokafka_options())
        self.seen: dict[str, set[str]] = {"payments.order.created": set(), "escrow.hold.created": set()}
        self.rejections: dict[str, int] = {}
        self.dead_letters: dict[str, int] = {}
        self.read_to: dict[TopicPartition, int] = {}  # the offset after the last record read, per partition

    async def start(self) -> None:
        await asyncio.gather(self.reader.start(), self.offsets.start(), self.admin.start())
        await self.offsets._client.force_metadata_update()
        self.partitions = [TopicPartition(t, p) for t in topics.all_topics()
                           for p in sorted(self.offsets.partitions_for_topic(t) or [])]
        self.reader.assign(self.partitions)
        await self.reader.seek_to_end(*self.partitions)
        for tp in self.partitions:
            self.read_to[tp] = await self.reader.position(tp)  # resolved now: nothing published from here on is skipped
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(self.reader.stop(), self.offsets.stop(), self.admin.close())

    def reset(self) -> None:
        for ids in self.seen.values():
            ids.clear()
        self.rejections.clear()
        self.dead_letters.clear()

    async def _read(self) -> None:
        while True:
            for tp, records in (await self.reader.getmany(timeout_ms=100, max_records=5000)).items():
                if records:
                    self.read_to[tp] = max(self.read_to.get(tp, 0), records[-1].offset + 1)
                if tp.topic not in READ:
                    continue
                if tp.topic.endswith(".dlq"):
                    self.dead_letters[tp.topic] = self.dead_letters.get(tp.topic, 0) + len(records)
                    continue
                for record in records:
                    kind = dict(record.headers or ()).get("type", b"").decode()
                    if kind.endswith(".command.rejected"):
                        self.rejections[kind] = self.rejections.get(kind, 0) + 1
                    elif kind in self.seen:
                        self.seen[kind].add(json.loads(record.value)["data"]["order_id"])

    async def lag(self) -> tuple[dict[str, int], int, bool]:
        """Each group's lag over the partitions it has committed on, the payments group's on the command topic,
        and whether the probe has read every partition to its end (before that a lag of 0 proves nothing)."""
        ends = true_ends(await self.offsets.end_offsets(self.partitions), self.read_to,
                         {tp: self.reader.highwater(tp) for tp in self.partitions})
        caught_up = all(self.read_to.get(tp, 0) >= end for tp, end in ends.items())
        answers = await asyncio.gather(*(self.admin.list_consumer_group_offsets(f"danbao-{g}", partitions=self.partitions)
                                         for g in self.groups))
        lag, command_lag = {}, 0
        for group, committed in zip(self.groups, answers, strict=True):
            behind = group_lag(ends, {tp: c.offset for tp, c in committed.items()})
            lag[group] = sum(behind.values())
            if group == "payments":
                command_lag = sum(n for tp, n in behind.items() if tp.topic == COMMAND_TOPIC)
        return lag, command_lag, caught_up
