"""`danbao demo disputes`: the four seed cases, replayed through a running platform as its users
would drive it (plain Kafka messages), with the test clock moved forward where days pass.

1. **lost-parcel** (seed 04): the parcel is lost, receipt is confirmed automatically and the merchant
   withdraws its money; the buyer's refund request is rejected ("return the goods first"), the
   buyer escalates, the arbitrator rules a full refund. The money is gone, so the platform pays the
   buyer first from the compensation pool and claims it from the insurer (approved in full).
2. **holiday-return** (seed 04): a returned down jacket while the merchant, closed for the holiday
   with an empty balance, cannot refund: its silence accepts the request after 48 hours, and
   priority compensation pays the buyer. The insurer covers half; the merchant owes the rest,
   which its next sale repays first.
3. **price-difference** (seed 01): 38 yuan charged above the listed price. The merchant
   counter-offers 20 yuan, the buyer refuses, the merchant accepts 38: refunded from the hold, and
   the rest of the hold is released when the auto-confirm countdown, paused meanwhile, runs out.
4. **phone-not-as-described** (seed 05): a phone not as described; after a counter-offer the buyer
   refuses, a full refund is agreed, the three-day verification checks the ledger (day 1), asks
   the buyer (day 2) and closes the case (day 3).

Each scenario uses its own buyer and order ids, so the demo can run again on the same platform.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ops.kafka import command
from ops.progress import Step, in_turn
from shared import topics
from shared.business_days import CHINA
from shared.kafka_security import aiokafka_options

DAY = 86_400
SHA = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
WATCHED = [topics.events("payments"), topics.events("escrow"), topics.events("disputes"), topics.CONTROL_EVENTS]
DEMO_MERCHANTS = {"lost-parcel": "M-DEMO-SHOES", "holiday-return": "M-DEMO-HALF-COATS",
                  "price-difference": "M-DEMO-SHOP", "phone-not-as-described": "M-DEMO-PHONES"}


class Watcher:
    """Reads the platform's event topics from the start, in the background, and waits for messages."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.messages: list[dict[str, Any]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **aiokafka_options())
        await self._producer.start()
        consumer = self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                                           **aiokafka_options())
        await consumer.start()
        await consumer._client.force_metadata_update()
        assigned = [TopicPartition(t, p) for t in WATCHED for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    try:
                        self.messages.append(json.loads(record.value))
                    except (TypeError, ValueError):
                        continue

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()
        if self._producer:
            await self._producer.stop()

    async def send(self, topic: str, type_: str, data: dict[str, Any], actor: tuple[str, str], key: str) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(topic, command(type_, data, actor, "danbao-demo", f"demo-{key}"), key=key.encode())

    async def wait(self, type_: str, timeout: float = 60.0, **match: Any) -> dict[str, Any]:
        """The first message of ``type_`` whose data has the ``match`` values."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if message.get("type") == type_ and all(message["data"].get(k) == v for k, v in match.items()):
                    return message
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {type_} with {match} within {timeout}s")
            await asyncio.sleep(0.05)

    def balances(self, accounts: list[str]) -> dict[str, int]:
        """Ledger balances (fen) of ``accounts``, summed from every entry escrow posted."""
        totals = dict.fromkeys(accounts, 0)
        for message in self.of("escrow.ledger.entry_posted"):
            for line in message["data"]["lines"]:
                if line["account"] in totals:
                    totals[line["account"]] += line["amount"]
        return totals

    def total(self) -> int:
        """The sum of every ledger line: zero when the ledger balances."""
        return sum(line["amount"] for m in self.of("escrow.ledger.entry_posted") for line in m["data"]["lines"])

    def of(self, type_: str) -> Iterator[dict[str, Any]]:
        return (m for m in self.messages if m.get("type") == type_)


@dataclass
class Outcome:
    """One scenario's timeline and its accounts' balances at the end."""

    name: str
    title: str
    case_id: str
    order_id: str
    timeline: list[tuple[str, str, str]] = field(default_factory=list)  # (China time, event type, summary)
    balances: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def _summary(message: dict[str, Any]) -> str:
    data = message["data"]
    keys = ("requested", "amount", "response", "how", "decision", "outcome", "from_hold", "from_merchant", "shortfall",
            "approved", "verified", "satisfied", "reason", "proposal", "recovered", "merchant_owes")
    parts = []
    for key in keys:
        if key not in data or data[key] in (None, 0, ""):
            continue
        value = data[key]
        if isinstance(value, dict) and "amount" in value and "currency" in value:
            value = _yuan(value["amount"])
        elif isinstance(value, dict) and "rule" in value:
            value = f"{value['rule']} {value['decision']} {_yuan(value['amount']['amount'])}"
        elif key in ("from_hold", "from_merchant", "shortfall", "recovered", "merchant_owes"):
            value = _yuan(value)
        parts.append(f"{key}={value}")
    return " ".join(parts)


SHOWN = ("disputes.", "escrow.hold.", "escrow.case_refund.", "escrow.compensation.", "escrow.refund.paid_out",
         "escrow.recovery.", "escrow.shipment.recorded")


class Demo:
    def __init__(self, watcher: Watcher, tag: str | None = None) -> None:
        self.w = watcher
        self.tag = tag or uuid.uuid4().hex[:6].upper()

    # -- what users do ---------------------------------------------------------------------

    async def paid_order(self, order_id: str, merchant: str, buyer: str, amount: int, name: str) -> None:
        await self.w.send(topics.commands("payments"), "payments.order.create", {
            "order_id": order_id, "merchant_id": merchant, "buyer_id": buyer,
            "items": [{"sku": "SKU-1", "name": name, "quantity": 1, "unit_price": amount}],
            "amount": {"amount": amount, "currency": "CNY"}, "guaranteed": True, "auto_confirm_days": 7,
        }, ("merchant", merchant), order_id)
        await self.w.wait("payments.order.created", order_id=order_id)
        await self.w.send(topics.commands("payments"), "payments.order.pay", {"order_id": order_id, "method": "qr_code"},
                          ("buyer", buyer), order_id)
        await self.w.wait("escrow.hold.created", order_id=order_id)

    async def ship(self, order_id: str, merchant: str) -> None:
        await self.w.send(topics.commands("escrow"), "escrow.shipment.record", {
            "order_id": order_id, "carrier": "SF Express 顺丰", "tracking_no": f"SF{abs(hash(order_id)) % 10**10}"},
            ("merchant", merchant), order_id)
        await self.w.wait("escrow.shipment.recorded", order_id=order_id)

    async def confirm(self, order_id: str, buyer: str) -> None:
        await self.w.send(topics.commands("escrow"), "escrow.receipt.confirm", {"order_id": order_id}, ("buyer", buyer), order_id)
        await self.w.wait("escrow.hold.released", order_id=order_id)

    async def advance(self, seconds: int) -> None:
        """Move every service's test clock forward and wait until all five moved."""
        tag = f"clock-{uuid.uuid4().hex[:8]}"
        envelope_key = "clock"
        assert self.w._producer is not None
        value = command("control.clock.advance", {"seconds": seconds}, ("operator", "OP-1"), "danbao-demo", tag)
        await self.w._producer.send_and_wait(topics.CONTROL_COMMANDS, value, key=envelope_key.encode())
        deadline = time.monotonic() + 60
        while {m["data"]["service"] for m in self.w.of("control.clock.advanced") if m["correlation_id"] == tag} < set(topics.SERVICES):
            if time.monotonic() > deadline:
                raise TimeoutError("the services did not all move their clocks")
            await asyncio.sleep(0.05)

    async def withdraw_all(self, merchant: str) -> int:
        """The merchant withdraws its whole available balance; returns how much."""
        available = -self.w.balances([f"merchant_available:{merchant}"])[f"merchant_available:{merchant}"]
        if available > 0:
            payout_id = f"PO-{merchant}-{self.tag}-{uuid.uuid4().hex[:4]}"
            await self.w.send(topics.commands("payments"), "payments.payout.request", {
                "payout_id": payout_id, "merchant_id": merchant, "amount": {"amount": available, "currency": "CNY"}},
                ("merchant", merchant), merchant)
            await self.w.wait("escrow.payout.reserved", payout_id=payout_id)
        return available

    async def case(self, type_: str, data: dict[str, Any], actor: tuple[str, str], order_id: str) -> None:
        await self.w.send(topics.commands("disputes"), type_, data, actor, order_id)

    async def open_case(self, case_id: str, order_id: str, buyer: str, reason: str, requested: int, description: str,
                        evidence: str) -> None:
        await self.case("disputes.case.open", {
            "case_id": case_id, "order_id": order_id, "reason": reason, "requested": {"amount": requested, "currency": "CNY"},
            "description": description, "evidence": self.evidence(evidence)}, ("buyer", buyer), order_id)
        await self.w.wait("disputes.case.opened", case_id=case_id)

    async def refused_counter_offer(self, case_id: str, order_id: str, merchant: str, buyer: str, offer: int,
                                    merchant_note: str, buyer_note: str) -> None:
        """The merchant offers less; the buyer refuses, which starts the next round."""
        await self.case("disputes.case.respond", {"case_id": case_id, "response": "counter_offer",
                                                   "amount": {"amount": offer, "currency": "CNY"}, "note": merchant_note},
                        ("merchant", merchant), order_id)
        await self.w.wait("disputes.case.merchant_responded", case_id=case_id, response="counter_offer")
        await self.case("disputes.counter_offer.answer", {"case_id": case_id, "accept": False, "note": buyer_note},
                        ("buyer", buyer), order_id)
        await self.w.wait("disputes.counter_offer.answered", case_id=case_id)

    def evidence(self, what: str) -> list[dict[str, str]]:
        return [{"reference": f"evidence/{self.tag}/{uuid.uuid4().hex[:6]}.jpg", "sha256": SHA, "description": what}]

    async def verify(self, case_id: str, buyer: str, order_id: str) -> dict[str, Any]:
        """The three days after an outcome: ledger check, buyer's feedback, final."""
        await self.w.wait("disputes.verification.started", case_id=case_id)
        await self.advance(DAY)
        await self.w.wait("disputes.verification.refund_checked", case_id=case_id)
        await self.advance(DAY)
        await self.w.wait("disputes.verification.feedback_requested", case_id=case_id)
        await self.case("disputes.feedback.submit", {"case_id": case_id, "satisfied": True, "comment": "谢谢 / thank you"},
                        ("buyer", buyer), order_id)
        await self.w.wait("disputes.feedback.received", case_id=case_id)
        await self.advance(DAY)
        closed = await self.w.wait("disputes.case.closed", case_id=case_id)
        if self._was_frozen(case_id):
            await self.w.wait("escrow.hold.unfrozen", case_id=case_id)
        return closed

    def _was_frozen(self, case_id: str) -> bool:
        return any(m["data"].get("case_id") == case_id for m in self.w.of("escrow.hold.frozen"))

    def outcome(self, name: str, title: str, case_id: str, order_ids: list[str], accounts: list[str]) -> Outcome:
        result = Outcome(name, title, case_id, order_ids[0])
        steps: list[tuple[datetime, str, str]] = []
        for message in self.w.messages:
            data = message.get("data", {})
            if not str(message.get("type", "")).startswith(SHOWN):
                continue
            if data.get("case_id") != case_id and data.get("order_id") not in order_ids:
                continue
            steps.append((datetime.fromisoformat(message["occurred_at"]), message["type"], _summary(message)))
        steps.sort(key=lambda step: step[0])  # by the platform's (test) clock; arrival order breaks ties
        result.timeline = [(when.astimezone(CHINA).strftime("%m-%d %H:%M:%S"), type_, what) for when, type_, what in steps]
        result.balances = self.w.balances(accounts)
        return result

    # -- the four seed cases -----------------------------------------------------------------

    async def lost_parcel(self) -> Outcome:
        merchant, buyer = DEMO_MERCHANTS["lost-parcel"], f"B-LOST-{self.tag}"
        order_id, case_id = f"O-LOST-{self.tag}", f"C-LOST-{self.tag}"
        await self.paid_order(order_id, merchant, buyer, 12900, "跑步鞋 Running shoes")
        await self.ship(order_id, merchant)
        await self.advance(8 * DAY)  # the parcel is stuck; receipt is confirmed automatically
        await self.w.wait("escrow.hold.released", order_id=order_id)
        await self.withdraw_all(merchant)
        await self.open_case(case_id, order_id, buyer, "not_received", 12900, "物流显示一直未签收 / the parcel never arrived",
                             "物流截图 / tracking screenshot")
        await self.case("disputes.case.respond", {"case_id": case_id, "response": "reject",
                                                   "note": "请先退货 / return the goods first"}, ("merchant", merchant), order_id)
        await self.w.wait("disputes.negotiation.failed", case_id=case_id)
        await self.case("disputes.case.escalate", {"case_id": case_id, "note": "我没有收到货 / I never got it"}, ("buyer", buyer), order_id)
        escalated = await self.w.wait("disputes.case.escalated", case_id=case_id)
        await self.case("disputes.case.rule", {"case_id": case_id, "decision": "full_refund",
                                                "reasons": "物流未妥投，全额退款 / not delivered: full refund"},
                        ("arbitrator", "ARB-1"), order_id)
        paid = await self.w.wait("escrow.compensation.paid", case_id=case_id)
        claim = paid["data"]["compensation_id"].replace("CP-", "CL-", 1)
        await self.w.wait("disputes.claim.paid", claim_id=claim, timeout=90)
        closed = await self.verify(case_id, buyer, order_id)
        result = self.outcome("lost-parcel", "丢件，商家要求先退货：平台优先赔付 / lost parcel, merchant demands a return first",
                              case_id, [order_id], [f"buyer_refunds_payable:{buyer}", f"merchant_available:{merchant}",
                                                    f"merchant_recovery_receivable:{merchant}"])
        result.facts = {"proposal": escalated["data"]["proposal"]["rule"], "compensated": closed["data"]["compensated"],
                        "refunded": closed["data"]["refunded"]["amount"], "outcome": closed["data"]["outcome"]}
        return result

    async def holiday_return(self) -> Outcome:
        merchant, buyer = DEMO_MERCHANTS["holiday-return"], f"B-COAT-{self.tag}"
        order_id, case_id, later = f"O-COAT-{self.tag}", f"C-COAT-{self.tag}", f"O-COAT2-{self.tag}"
        await self.paid_order(order_id, merchant, buyer, 59900, "羽绒服 Down jacket")
        await self.ship(order_id, merchant)
        await self.confirm(order_id, buyer)
        await self.withdraw_all(merchant)  # before the holiday the merchant withdrew everything
        owed_before = self.w.balances([f"merchant_recovery_receivable:{merchant}"])[f"merchant_recovery_receivable:{merchant}"]
        await self.open_case(case_id, order_id, buyer, "not_as_described", 59900,
                             "已寄回商家，至今未退款 / sent back before the holiday, still not refunded", "退货快递单 / return waybill")
        await self.advance(2 * DAY)  # the merchant is closed for the holiday: silence accepts after 48 hours
        await self.w.wait("disputes.negotiation.agreed", case_id=case_id)
        paid = await self.w.wait("escrow.compensation.paid", case_id=case_id)
        claim = paid["data"]["compensation_id"].replace("CP-", "CL-", 1)
        decided = await self.w.wait("disputes.claim.decided", claim_id=claim, timeout=90)
        await self.w.wait("disputes.claim.paid", claim_id=claim, timeout=90)
        closed = await self.verify(case_id, buyer, order_id)
        # after the holiday the merchant sells again: its income repays what it owes first
        await self.paid_order(later, merchant, f"B-COAT2-{self.tag}", 12900, "围巾 Scarf")
        await self.ship(later, merchant)
        await self.confirm(later, f"B-COAT2-{self.tag}")
        repaid = await self.w.wait("escrow.recovery.repaid", order_id=later)
        result = self.outcome("holiday-return", "节假日退货，商家无法退款：平台优先赔付 / return over the holiday, merchant "
                              "cannot refund", case_id, [order_id, later],
                              [f"buyer_refunds_payable:{buyer}", f"merchant_available:{merchant}",
                               f"merchant_recovery_receivable:{merchant}"])
        result.facts = {"compensated": closed["data"]["compensated"], "insurer_approved": decided["data"]["approved"]["amount"],
                        "recovered_from_next_sale": repaid["data"]["amount"]["amount"],
                        "merchant_owed_before": owed_before, "outcome": closed["data"]["outcome"]}
        return result

    async def price_difference(self) -> Outcome:
        merchant, buyer = DEMO_MERCHANTS["price-difference"], f"B-DIFF-{self.tag}"
        order_id, case_id = f"O-DIFF-{self.tag}", f"C-DIFF-{self.tag}"
        await self.paid_order(order_id, merchant, buyer, 25900, "连衣裙 Dress")
        await self.ship(order_id, merchant)
        await self.open_case(case_id, order_id, buyer, "price_difference", 3800,
                             "到手价比页面标价高了38元 / 38 yuan above the listed price", "商品页截图 / product page screenshot")
        await self.w.wait("escrow.hold.frozen", case_id=case_id)
        await self.refused_counter_offer(case_id, order_id, merchant, buyer, 2000, "补偿20元 / 20 yuan", "差价是38元 / it was 38")
        await self.case("disputes.case.respond", {"case_id": case_id, "response": "accept", "note": "已核实 / verified"},
                        ("merchant", merchant), order_id)
        await self.w.wait("escrow.case_refund.executed", case_id=case_id)
        closed = await self.verify(case_id, buyer, order_id)
        unfrozen = await self.w.wait("escrow.hold.unfrozen", case_id=case_id)
        await self.advance(8 * DAY)  # the paused countdown runs out: the rest of the hold goes to the merchant
        released = await self.w.wait("escrow.hold.released", order_id=order_id)
        result = self.outcome("price-difference", "38元差价：协商部分退款 / a 38-yuan price difference, settled by negotiation",
                              case_id, [order_id], [f"buyer_refunds_payable:{buyer}", f"merchant_available:{merchant}"])
        result.facts = {"refunded": closed["data"]["refunded"]["amount"], "held_after_case": unfrozen["data"]["remaining"],
                        "released": released["data"]["amount"]["amount"], "outcome": closed["data"]["outcome"]}
        return result

    async def phone_not_as_described(self) -> Outcome:
        merchant, buyer = DEMO_MERCHANTS["phone-not-as-described"], f"B-PHONE-{self.tag}"
        order_id, case_id = f"O-PHONE-{self.tag}", f"C-PHONE-{self.tag}"
        await self.paid_order(order_id, merchant, buyer, 399900, "手机 Phone")
        await self.ship(order_id, merchant)
        await self.open_case(case_id, order_id, buyer, "not_as_described", 399900,
                             "收到的手机与描述不符 / the phone is not the model described", "开箱视频 / unboxing video")
        await self.refused_counter_offer(case_id, order_id, merchant, buyer, 50000, "退500元 / 500 yuan back",
                                         "我要退货退款 / I want a full refund")
        await self.case("disputes.case.respond", {"case_id": case_id, "response": "accept"}, ("merchant", merchant), order_id)
        await self.w.wait("escrow.case_refund.executed", case_id=case_id)
        await self.w.wait("escrow.refund.paid_out", order_id=order_id)
        closed = await self.verify(case_id, buyer, order_id)
        result = self.outcome("phone-not-as-described", "手机货不对板：协商全额退款 / a phone not as described, full refund agreed",
                              case_id, [order_id], [f"buyer_refunds_payable:{buyer}", f"merchant_available:{merchant}"])
        result.facts = {"refunded": closed["data"]["refunded"]["amount"], "outcome": closed["data"]["outcome"]}
        return result


SCENARIOS: dict[str, Callable[[Demo], Any]] = {
    "lost-parcel": Demo.lost_parcel,
    "holiday-return": Demo.holiday_return,
    "price-difference": Demo.price_difference,
    "phone-not-as-described": Demo.phone_not_as_described,
}


async def run(bootstrap: str, names: list[str] | None = None, tag: str | None = None, step: Step | None = None) -> list[Outcome]:
    """Run the named scenarios (all by default) one after another, each counted on ``step``; returns their outcomes."""
    watcher = Watcher(bootstrap)
    await watcher.start()
    try:
        demo = Demo(watcher, tag)
        return await in_turn(names or list(SCENARIOS), lambda name: SCENARIOS[name](demo), step)
    finally:
        await watcher.stop()
