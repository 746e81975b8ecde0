"""The bench's ceiling stand-ins mirror the platform: the same topics consumed, the same message
types exchanged, so the ceiling measures the same traffic without the domain work."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from ops.ceiling import RULES
from ops.docs import SERVICE_APPS
from shared.contracts import escrow, payments, psp
from shared.settings import PlatformSettings

CONTRACTS = {c.topic: c for c in (payments.COMMANDS, payments.EVENTS, escrow.COMMANDS, escrow.EVENTS, psp.REQUESTS, psp.CALLBACKS)}


def test_every_message_a_stand_in_reads_or_writes_is_a_real_type_of_its_topic() -> None:
    for rules in RULES.values():
        for topic, answers in rules.items():
            for type_, events in answers.items():
                assert type_ in CONTRACTS[topic].types(), (topic, type_)
                for out_topic, out_type in events:
                    assert out_type in CONTRACTS[out_topic].types(), (out_topic, out_type)


def test_the_stand_ins_consume_what_the_services_consume() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        platform = PlatformSettings(kafka_bootstrap="kafka:9092", data_dir=Path(scratch))
        for service in ("payments", "escrow", "notifications"):
            runtime = importlib.import_module(SERVICE_APPS[service]).build(platform=platform)
            assert set(RULES[service]) == set(runtime.consumer.routes), service
    assert set(RULES["psp-simulator"]) == {psp.REQUESTS.topic}


def test_the_stand_ins_answer_a_lifecycle_with_the_events_the_driver_waits_for() -> None:
    emitted = {out_type for rules in RULES.values() for answers in rules.values() for events in answers.values()
               for _, out_type in events}
    assert {"payments.order.created", "payments.payment.succeeded", "escrow.hold.created", "escrow.shipment.recorded",
            "escrow.hold.released"} <= emitted
