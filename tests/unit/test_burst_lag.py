"""``danbao burst`` measures lag against the records it read, not only the end offsets the broker reports:
Tansu's ListOffsets answered 373 for a partition holding 404 records."""

from __future__ import annotations

from aiokafka import TopicPartition

from ops.burst import Sample
from ops.burst_probe import group_lag, true_ends

COMMANDS, EVENTS = TopicPartition("danbao.payments.commands", 0), TopicPartition("danbao.payments.events", 0)


def test_a_short_reported_end_is_corrected_by_the_records_read() -> None:
    ends = true_ends({COMMANDS: 373, EVENTS: 10}, read={COMMANDS: 404, EVENTS: 10}, highwater={COMMANDS: None, EVENTS: 12})
    assert ends == {COMMANDS: 404, EVENTS: 12}
    # The group committed up to the reported end: by the broker's word it has caught up, by the records it has not.
    assert group_lag({COMMANDS: 373}, {COMMANDS: 373}) == {COMMANDS: 0}
    assert group_lag(ends, {COMMANDS: 373, EVENTS: -1}) == {COMMANDS: 31}  # -1: nothing committed there yet


def test_a_lag_of_0_counts_only_once_every_partition_was_read_to_its_end() -> None:
    early = Sample(at=1.0, lag={"payments": 0}, command_lag=0, rss={}, caught_up=False)
    assert not early.drained and not early.settled
    later = Sample(at=2.0, lag={"payments": 0, "notifications": 3}, command_lag=0, rss={}, caught_up=True)
    assert later.drained and not later.settled
    assert Sample(at=3.0, lag={"payments": 0}, command_lag=0, rss={}, caught_up=True).settled
