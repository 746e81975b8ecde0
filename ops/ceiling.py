"""The stack's ceiling for `make bench`: a lifecycle's messages with no domain work.

Four stand-in processes take the places of payments, escrow, notifications and the PSP
simulator. Each consumes the same topics as the real one, with the same FastStream batch
subscriber (polled promptly, ``shared.polling``), fetch wait and poll wait, decodes every
record and publishes the same follow-on events (same topics, keys and roughly the same size)
with a plain aiokafka producer, as the real outbox relay does. No database, no validation, no rules. The bench driver runs the same
lifecycles against them, so the figure is what FastStream, aiokafka and Tansu allow on this
machine, and the platform's own figure reads as a share of it.

Run by the bench only: ``python -m ops.ceiling NAME BOOTSTRAP FETCH_WAIT_MS POLL_WAIT_MS``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.broker import TansuBroker, create_topics
from ops.platform import FETCH_WAIT_MS, OTHER_FETCH_WAIT_MS, log_tail, stop_processes
from shared.settings import PlatformSettings

POLL_WAIT_MS = PlatformSettings.model_fields["poll_wait_ms"].default  # what the services run with
_FILLER = "x" * 480  # brings a stand-in event to about the size of the platform's (700-900 bytes)

# stand-in → topic it consumes → message type → (topic, type) of each event it publishes in answer
RULES: dict[str, dict[str, dict[str, list[tuple[str, str]]]]] = {
    "payments": {
        "danbao.payments.commands": {
            "payments.order.create": [("danbao.payments.events", "payments.order.created")],
            "payments.order.pay": [("danbao.payments.events", "payments.intent.created"),
                                   ("danbao.psp.requests", "psp.charge.requested")]},
        "danbao.psp.callbacks": {"psp.charge.completed": [("danbao.payments.events", "payments.payment.succeeded")]},
        "danbao.escrow.events": {}, "danbao.onboarding.events": {}, "danbao.bank.callbacks": {}, "danbao.control.commands": {},
    },
    "escrow": {
        "danbao.payments.events": {"payments.payment.succeeded": [("danbao.escrow.events", "escrow.hold.created"),
                                                                  ("danbao.escrow.events", "escrow.ledger.entry_posted")]},
        "danbao.escrow.commands": {
            "escrow.shipment.record": [("danbao.escrow.events", "escrow.shipment.recorded")],
            "escrow.receipt.confirm": [("danbao.escrow.events", "escrow.hold.released"),
                                       ("danbao.escrow.events", "escrow.ledger.entry_posted")]},
        "danbao.psp.callbacks": {}, "danbao.disputes.events": {}, "danbao.control.commands": {},
    },
    "notifications": {"danbao.payments.events": {}, "danbao.escrow.events": {}, "danbao.onboarding.events": {},
                      "danbao.disputes.events": {},
                      "danbao.notifications.commands": {}, "danbao.control.commands": {}},
    "psp-simulator": {"danbao.psp.requests": {"psp.charge.requested": [("danbao.psp.callbacks", "psp.charge.completed")]}},
}


def event(type_: str, order_id: str, producer: str) -> bytes:
    return json.dumps({
        "event_id": str(uuid.uuid4()), "type": type_, "version": 1, "occurred_at": "2026-11-23T08:30:00Z",
        "producer": producer, "correlation_id": f"bench-{order_id}", "actor": {"kind": "system", "id": producer},
        "data": {"order_id": order_id, "intent_id": f"PI-{order_id}-1", "amount": {"amount": 12900, "currency": "CNY"},
                 "filler": _FILLER},
    }).encode()


def serve(name: str, bootstrap: str, fetch_wait_ms: int, poll_wait_ms: int) -> None:
    import uvloop
    from aiokafka import AIOKafkaProducer
    from faststream import FastStream
    from faststream.kafka import KafkaBroker
    from faststream.middlewares import AckPolicy

    from shared.kafka_security import aiokafka_options, faststream_security
    from shared.polling import prompt

    rules = RULES[name]
    broker = KafkaBroker(bootstrap, client_id=f"ceiling-{name}", security=faststream_security())
    producers: list[AIOKafkaProducer] = []

    async def raw(message: Any) -> Any:
        return message.raw_message

    subscriber = prompt(broker.subscriber(*rules, group_id=f"ceiling-{name}", batch=True, max_records=500,
                                          batch_timeout_ms=poll_wait_ms, fetch_max_wait_ms=fetch_wait_ms,
                                          ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest", decoder=raw))

    @subscriber
    async def handle(records: Any) -> None:
        sent = []
        for record in records:
            document = json.loads(record.value)
            for topic, type_ in rules[record.topic].get(document["type"], ()):
                headers = [("content-type", b"application/json"), ("type", type_.encode())]
                sent.append(await producers[0].send(topic, event(type_, document["data"]["order_id"], name),
                                                key=record.key, headers=headers))
        if sent:
            await asyncio.gather(*sent)

    async def start() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, enable_idempotence=False,
                                    **aiokafka_options())
        await producer.start()
        producers.append(producer)

    async def stop() -> None:
        for producer in producers:
            await producer.stop()

    app = FastStream(broker, on_startup=[start], on_shutdown=[stop])
    uvloop.run(app.run())


@dataclass
class CeilingPlatform:
    """A fresh broker and the four stand-ins, stopped by their own process ids."""

    data_dir: Path
    partitions: int
    broker: TansuBroker | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.broker = TansuBroker(log_path=self.data_dir / "ceiling-broker.log")
            self.broker.start()
            asyncio.run(create_topics(self.broker.bootstrap, partitions=self.partitions))
            for name in RULES:
                wait = FETCH_WAIT_MS.get(name, OTHER_FETCH_WAIT_MS)
                log = open(self.data_dir / f"ceiling-{name}.log", "ab")  # noqa: SIM115 - the child owns it
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "ops.ceiling", name, self.broker.bootstrap, str(wait), str(POLL_WAIT_MS)],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            self.stop()
            raise

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{log_tail(self.data_dir / f'ceiling-{name}.log')}" for name in self.processes)

    def pids(self) -> dict[str, int]:
        found = {name: p.pid for name, p in self.processes.items()}
        if self.broker is not None and self.broker.process is not None:
            found["broker (tansu)"] = self.broker.process.pid
        return found

    def stop(self) -> None:
        stop_processes(list(self.processes.values()))
        if self.broker is not None:
            self.broker.stop()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
