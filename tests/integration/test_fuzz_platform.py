"""Bad messages through the real broker to the real service processes (SQLite): a deterministic sample
from the fuzzing strategies (each kind of bad message for every command topic, a megabyte of JSON and
of bytes that are not UTF-8, bad control commands, forged callbacks). Every process keeps running,
each message is dead-lettered (at its partition and offset) or rejected (by its event id) exactly
once, and valid commands sent after them are processed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ops.platform import SERVICES, LocalPlatform
from shared import topics
from tests import factories as f
from tests.fuzzing import (
    CALLBACKS, COMMANDS, CONTROL, DEAD, MEGABYTE, Bad, broken, categories, check_answer, forged, open_case, oversized,
    undecodable,
)
from tests.integration.conftest import Kafka, of, running_platform

pytestmark = pytest.mark.integration
Sent = tuple[Bad, list[str], int, int]  # the message, the services that must answer it, partition, offset


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    # Commands about an order or merchant not known yet are answered at once, not after waiting for it.
    with running_platform("sqlite", tmp_path_factory.mktemp("fuzz"), {"DANBAO_PARK_SECONDS": "0"}) as running:
        yield running


def sample(data: st.DataObject) -> list[tuple[Bad, list[str]]]:
    """Three of each kind of bad message per command topic, two of each for control and callbacks, and who answers."""
    def some(strategy: st.SearchStrategy[Bad], n: int, label: str) -> list[Bad]:
        return data.draw(st.lists(strategy, min_size=n, max_size=n, unique_by=lambda b: b.what), label=label)

    chosen: list[tuple[Bad, list[str]]] = []
    for service, topic in COMMANDS.items():
        chosen += [(bad, [service]) for name, strategy in categories(topic).items() for bad in some(strategy, 3, f"{service} {name}")]
        chosen += [(bad, [service]) for bad in oversized(topic, MEGABYTE)]
    chosen += [(bad, list(SERVICES)) for strategy in (undecodable(CONTROL), broken(CONTROL)) for bad in some(strategy, 2, "control")]
    chosen += [(bad, [service]) for service, callbacks in CALLBACKS.items() for topic in callbacks
               for bad in some(forged(topic), 2, f"{service} callbacks")]
    return chosen


async def send(kafka: Kafka, messages: list[tuple[Bad, list[str]]]) -> list[Sent]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        sent = []
        for bad, services in messages:
            meta = await producer.send_and_wait(bad.topic, bad.value, key=bad.key)
            sent.append((bad, services, meta.partition, meta.offset))
        return sent
    finally:
        await producer.stop()


async def answers_of(kafka: Kafka, sent: list[Sent], service: str) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """What ``service`` published about each message it had to answer, by index in ``sent``; read until each has an answer."""
    mine = [(i, bad, partition, offset) for i, (bad, services, partition, offset) in enumerate(sent) if service in services]
    positions = {(bad.topic, partition, offset): i for i, bad, partition, offset in mine if bad.outcome == DEAD}
    event_ids = {bad.event_id: i for i, bad, _, _ in mine if bad.outcome != DEAD}
    found: dict[int, list[tuple[str, dict[str, Any]]]] = {i: [] for i, *_ in mine}

    def letter(m: dict[str, Any]) -> tuple[str, int, int]:
        return m["data"]["source_topic"], m["data"]["source_partition"], m["data"]["source_offset"]

    dlq, events = topics.dead_letters(service), topics.events(service)
    letters = await kafka.read_until(dlq, lambda ms: set(positions) <= {letter(m) for m in ms}, timeout=40)
    rejected = f"{service}.command.rejected"
    emitted = await kafka.read_until(events, lambda ms: set(event_ids) <= {m["data"].get("command_event_id") for m in ms
                                                                           if m["type"] == rejected}, timeout=40)
    for m in letters:
        if letter(m) in positions:
            found[positions[letter(m)]].append((dlq, m))
    for m in emitted:
        if m["type"] == rejected and m["data"]["command_event_id"] in event_ids:
            found[event_ids[m["data"]["command_event_id"]]].append((events, m))
    return found


async def valid_commands_work(kafka: Kafka) -> None:
    """A new order is created, paid, held, shipped and disputed; a merchant applies; a buyer registers."""
    order, merchant, buyer = f"O-FZ-{uuid.uuid4().hex[:8]}", f"M-FZ-{uuid.uuid4().hex[:8]}", f"B-FZ-{uuid.uuid4().hex[:8]}"
    await kafka.send(topics.commands("payments"), f.create_order(order), key=order)
    await kafka.send(topics.commands("payments"), f.pay_order(order), key=order)
    await kafka.send(topics.commands("onboarding"), f.apply_for_merchant(merchant, "91350100M000100Y43"), key=merchant)
    await kafka.send(topics.commands("notifications"), f.register_contact("buyer", buyer, language="en"), key=buyer)
    await kafka.read_until(topics.events("escrow"), lambda ms: any(of("escrow.hold.created", order_id=order)(m) for m in ms))
    await kafka.send(topics.commands("escrow"), f.record_shipment(order), key=order)
    await _open_case_once_disputes_knows_the_order(kafka, order)
    for service, type_, data in [("payments", "payments.order.created", {"order_id": order}),
                                 ("escrow", "escrow.shipment.recorded", {"order_id": order}),
                                 ("onboarding", "onboarding.application.received", {"merchant_id": merchant}),
                                 ("notifications", "notifications.contact.registered", {"party_id": buyer})]:
        await kafka.read_until(topics.events(service), lambda ms: any(of(type_, **data)(m) for m in ms), timeout=30)  # noqa: B023


async def _open_case_once_disputes_knows_the_order(kafka: Kafka, order: str) -> None:
    """Parking is off here (bad commands about unknown orders are refused at once), so a case opened before
    disputes has read the order's hold is refused `order_not_found`: the buyer's app asks again, as a client must."""
    for _ in range(20):
        case = open_case(f"C-{order}", order)
        await kafka.send(topics.commands("disputes"), case, key=order)
        answer = lambda m: of("disputes.case.opened", order_id=order)(m) or (  # noqa: E731
            m["type"] == "disputes.command.rejected" and m["data"]["command_event_id"] == case["event_id"])
        answers = await kafka.read_until(topics.events("disputes"), lambda ms: any(answer(m) for m in ms), timeout=30)
        if any(of("disputes.case.opened", order_id=order)(m) for m in answers):
            return
        assert [m["data"]["reason"] for m in answers if answer(m)] == ["order_not_found"]
        await asyncio.sleep(0.5)
    raise AssertionError(f"disputes never learnt of {order}'s hold")


@settings(max_examples=1, phases=[Phase.generate], derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_bad_messages_through_the_broker_are_each_answered_once_and_stop_nothing(
        platform: LocalPlatform, kafka: Kafka, data: st.DataObject) -> None:
    sent = await send(kafka, sample(data))
    assert len(sent) >= 10 * len(COMMANDS)
    await valid_commands_work(kafka)
    for service in SERVICES:
        for i, answers in (await answers_of(kafka, sent, service)).items():
            check_answer(sent[i][0], service, answers, any_rejection_reason=True)
    stopped = [name for name, process in platform.processes.items() if not process.running()]
    assert not stopped, f"stopped: {stopped}; see {[str(platform.processes[n].log_path) for n in stopped]}"
