"""The chaos run's driver: how buyers, merchants and the arbitrator act on the platform through plain Kafka
messages (``Platform``: send a command, wait for an event), and the six kinds of lifecycle (``Lifecycles``).
``ops/chaos.py`` runs them under faults."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from ops.kafka import command
from ops.pii import seal_document
from ops.platform import SERVICES
from shared import topics
from shared.kafka_security import aiokafka_options

KINDS = {"happy": 30, "auto-confirm": 15, "cancel": 20, "refund": 15, "dispute": 15, "compensation": 5}  # weights
MERCHANT, COMPENSATION_MERCHANT = "M-1001", "M-DEMO-HALF-COATS"
INDEXED = ("order_id", "case_id", "payout_id", "claim_id", "command_event_id")
WATCHED = [topics.events(s) for s in ("payments", "escrow", "disputes")] + [topics.CONTROL_EVENTS]


class Stuck(Exception):
    """A lifecycle waited too long for an event."""


class Platform:
    """The driver's view: sends commands (retrying through connection cuts) and waits for events by id."""

    def __init__(self, bootstrap: str, wait_timeout: float) -> None:
        self.bootstrap = bootstrap
        self.wait_timeout = wait_timeout
        self.index: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.arrived: dict[tuple[str, str, str], asyncio.Event] = {}
        self.messages = 0
        self.last_message = time.monotonic()
        self.send_retries = 0
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, request_timeout_ms=10_000,
                                          **aiokafka_options())
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50,
                                          **aiokafka_options())

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        assigned = [TopicPartition(t, p) for t in WATCHED for p in sorted(self._consumer.partitions_for_topic(t) or [])]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._consumer.stop()
        await self._producer.stop()

    async def _read(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200)
            except KafkaError:
                await asyncio.sleep(0.5)  # a cut connection: the consumer reconnects and resumes where it was
                continue
            for records in batch.values():
                for record in records:
                    self.messages += 1
                    self.last_message = time.monotonic()
                    message = json.loads(record.value)
                    data = message.get("data") or {}
                    for name in INDEXED + ("correlation_id",):
                        value = message.get(name) if name == "correlation_id" else data.get(name)
                        if isinstance(value, str):
                            key = (message["type"], name, value)
                            self.index.setdefault(key, []).append(message)
                            self.arrived.setdefault(key, asyncio.Event()).set()

    async def send(self, service: str, type_: str, data: dict[str, Any], actor: tuple[str, str], key: str) -> str:
        """Publish a command; after a failed attempt the same bytes go again (its event id makes a copy harmless).
        Returns the command's event id."""
        data = seal_document({"type": type_, "data": data})["data"]  # personal fields sealed, like any client's
        value = command(type_, data, actor, "danbao-chaos", f"chaos-{key}")
        for _ in range(60):
            try:
                await self._producer.send_and_wait(topics.commands(service), value, key=key.encode())
                return str(json.loads(value)["event_id"])
            except KafkaError:
                self.send_retries += 1
                await asyncio.sleep(0.5)
        raise Stuck(f"could not publish {type_} for {key}")

    async def act(self, service: str, type_: str, data: dict[str, Any], actor: tuple[str, str], key: str,
                  expect: str, **match: str) -> dict[str, Any]:
        """Send a command once and wait for the event ``expect`` (matched on one data field); its rejection
        is a failure (one sent before the service read what it needs waits for it instead)."""
        ((name, value),) = match.items()
        command_id = await self.send(service, type_, data, actor, key)
        outcome = await self.first((expect, name, value), (f"{service}.command.rejected", "command_event_id", command_id))
        if outcome["type"] != expect:
            raise Stuck(f"{type_} for {key} rejected: {outcome['data']['reason']}: {outcome['data']['detail']}")
        return outcome

    async def first(self, *keys: tuple[str, str, str]) -> dict[str, Any]:
        """The first message under any of ``keys`` (type, data field, value)."""
        waits = [asyncio.ensure_future(self.arrived.setdefault(key, asyncio.Event()).wait()) for key in keys]
        try:
            done, _ = await asyncio.wait(waits, timeout=self.wait_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        for key in keys:
            if key in self.index:
                return self.index[key][0]
        raise Stuck(f"no {keys[0][0]} for {keys[0][2]}")

    async def wait(self, type_: str, **match: str) -> dict[str, Any]:
        """The first ``type_`` event whose data has the one ``match`` field (order_id, case_id, …)."""
        ((name, value),) = match.items()
        return await self.first((type_, name, value))

    def all(self, type_: str, **match: str) -> list[dict[str, Any]]:
        ((name, value),) = match.items()
        return self.index.get((type_, name, value), [])

    async def advance_clock(self, seconds: int) -> None:
        """Move every service's test clock and wait until all five did."""
        tag = f"clock-{uuid.uuid4().hex[:8]}"
        value = command("control.clock.advance", {"seconds": seconds}, ("operator", "OP-1"), "danbao-chaos", tag)
        await self._producer.send_and_wait(topics.CONTROL_COMMANDS, value, key=b"clock")
        deadline = time.monotonic() + self.wait_timeout
        while {m["data"]["service"] for m in self.all("control.clock.advanced", correlation_id=tag)} < set(SERVICES):
            if time.monotonic() > deadline:
                raise Stuck("the services did not all move their clocks")
            await asyncio.sleep(0.1)


class Lifecycles:
    """What buyers, merchants and the arbitrator do, one coroutine per kind."""

    def __init__(self, p: Platform, tag: str) -> None:
        self.p = p
        self.tag = tag
        self.compensation_turn = asyncio.Lock()  # one merchant's balance: its withdrawals and cases go in turn
        self.released_later: list[str] = []      # orders released by auto-confirm after the clock moves
        self.closing_cases: list[str] = []        # cases in verification, closed after the clock moves
        self.frozen_cases: list[str] = []         # of them, those whose hold they froze (shipped, not released)

    async def contact(self, party: str, party_id: str, n: int) -> None:
        """Where the party is told things: SMS and e-mail (delivered to the messaging simulator)."""
        await self.p.send("notifications", "notifications.contact.register", {
            "party": party, "party_id": party_id, "phone": f"138{n % 10**8:08d}", "email": f"{party_id.lower()}@example.com"},
            (party, party_id), party_id)

    async def paid(self, n: int, merchant: str = MERCHANT, amount: int = 12900) -> tuple[str, str]:
        order, buyer = f"O-CH-{self.tag}-{n}", f"B-CH-{self.tag}-{n}"
        await self.contact("buyer", buyer, n)
        await self.p.act("payments", "payments.order.create", {
            "order_id": order, "merchant_id": merchant, "buyer_id": buyer,
            "items": [{"sku": "SKU-1", "name": "chaos", "quantity": 1, "unit_price": amount}],
            "amount": {"amount": amount, "currency": "CNY"}, "guaranteed": True, "auto_confirm_days": 7},
            ("merchant", merchant), order, "payments.order.created", order_id=order)
        await self.p.act("payments", "payments.order.pay", {"order_id": order, "method": "qr_code"}, ("buyer", buyer), order,
                         "escrow.hold.created", order_id=order)
        return order, buyer

    async def shipped(self, n: int, merchant: str = MERCHANT) -> tuple[str, str]:
        order, buyer = await self.paid(n, merchant)
        await self.p.act("escrow", "escrow.shipment.record", {"order_id": order, "carrier": "SF", "tracking_no": f"SF{n}"},
                         ("merchant", merchant), order, "escrow.shipment.recorded", order_id=order)
        return order, buyer

    async def confirmed(self, order: str, buyer: str) -> dict[str, Any]:
        return await self.p.act("escrow", "escrow.receipt.confirm", {"order_id": order}, ("buyer", buyer), order,
                                "escrow.hold.released", order_id=order)

    async def open_case(self, n: int, order: str, buyer: str, amount: int) -> str:
        case = f"C-CH-{self.tag}-{n}"
        await self.p.act("disputes", "disputes.case.open", {
            "case_id": case, "order_id": order, "reason": "not_as_described", "requested": {"amount": amount, "currency": "CNY"},
            "description": "与描述不符 / not as described",
            "evidence": [{"reference": f"evidence/{case}.jpg", "sha256": "0" * 64, "description": "photo"}]},
            ("buyer", buyer), order, "disputes.case.opened", case_id=case)
        self.closing_cases.append(case)
        return case

    async def happy(self, n: int) -> None:
        await self.confirmed(*await self.shipped(n))

    async def auto_confirm(self, n: int) -> None:
        order, _ = await self.shipped(n)
        self.released_later.append(order)

    async def cancel(self, n: int) -> None:
        if n % 4 == 0:  # the merchant cancels before the buyer paid
            order = f"O-CH-{self.tag}-{n}"
            await self.p.act("payments", "payments.order.create", {
                "order_id": order, "merchant_id": MERCHANT, "buyer_id": f"B-CH-{self.tag}-{n}",
                "items": [{"sku": "SKU-2", "name": "chaos", "quantity": 2, "unit_price": 500}],
                "amount": {"amount": 1000, "currency": "CNY"}, "guaranteed": True},
                ("merchant", MERCHANT), order, "payments.order.created", order_id=order)
            await self.p.act("payments", "payments.order.cancel", {"order_id": order, "reason": "out_of_stock"},
                             ("merchant", MERCHANT), order, "payments.order.cancelled", order_id=order)
            return
        order, buyer = await self.paid(n)
        await self.p.act("payments", "payments.order.cancel", {"order_id": order, "reason": "changed_mind"}, ("buyer", buyer),
                         order, "escrow.hold.refunded", order_id=order)
        await self.p.wait("payments.order.cancelled", order_id=order)

    async def refund(self, n: int) -> None:
        order, buyer = await self.shipped(n)
        case = await self.open_case(n, order, buyer, 3800)
        self.frozen_cases.append(case)
        self.released_later.append(order)  # the rest of the hold, when the resumed countdown ends
        await self.p.act("disputes", "disputes.case.respond", {"case_id": case, "response": "accept"}, ("merchant", MERCHANT),
                         order, "escrow.case_refund.executed", case_id=case)

    async def dispute(self, n: int) -> None:
        order, buyer = await self.shipped(n)
        case = await self.open_case(n, order, buyer, 12900)
        self.frozen_cases.append(case)
        await self.p.act("disputes", "disputes.case.respond", {"case_id": case, "response": "reject", "note": "请先退货"},
                         ("merchant", MERCHANT), order, "disputes.negotiation.failed", case_id=case)
        await self.p.act("disputes", "disputes.case.escalate", {"case_id": case}, ("buyer", buyer), order,
                         "disputes.case.escalated", case_id=case)
        await self.p.act("disputes", "disputes.case.rule", {"case_id": case, "decision": "full_refund",
                                                             "reasons": "未妥投 / not delivered"},
                         ("arbitrator", "ARB-1"), order, "escrow.case_refund.executed", case_id=case)

    async def compensation(self, n: int) -> None:
        async with self.compensation_turn:
            order, buyer = await self.shipped(n, COMPENSATION_MERCHANT)
            released = await self.confirmed(order, buyer)
            payout = f"PO-CH-{self.tag}-{n}"
            available = released["data"]["net"] - released["data"]["recovered"]
            if available > 0:  # the merchant withdraws what the sale brought
                await self.p.act("payments", "payments.payout.request", {
                    "payout_id": payout, "merchant_id": COMPENSATION_MERCHANT, "amount": {"amount": available, "currency": "CNY"}},
                    ("merchant", COMPENSATION_MERCHANT), COMPENSATION_MERCHANT, "escrow.payout.reserved", payout_id=payout)
            case = await self.open_case(n, order, buyer, 12900)
            executed = await self.p.act("disputes", "disputes.case.respond", {"case_id": case, "response": "accept"},
                                       ("merchant", COMPENSATION_MERCHANT), order, "escrow.case_refund.executed", case_id=case)
            if executed["data"]["shortfall"] > 0:
                paid = await self.p.wait("escrow.compensation.paid", case_id=case)
                await self.p.wait("disputes.claim.paid", claim_id=paid["data"]["compensation_id"].replace("CP-", "CL-", 1))

    RUN = {"happy": happy, "auto-confirm": auto_confirm, "cancel": cancel, "refund": refund, "dispute": dispute,
           "compensation": compensation}
