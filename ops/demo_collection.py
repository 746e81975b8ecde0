"""`danbao demo collection`: collecting money as seed 02 describes it, through a running platform, as a till, the
customers' phones and an operator would drive it (signed commands on plain Kafka).

1. **walk-in**: M-1001 shows a QR code for one sale of tea; a walk-in customer scans it and pays with 一键担保;
   the money is held, the merchant ships, the customer confirms, and the money is released less the fee.
2. **shop-qr**: M-1002's standing shop QR code; two customers enter their own amounts, one with the guarantee
   and one without (the same fee rate either way).
3. **risk-review**: a customer pays M-1002's shop code again and again; the buyer-velocity rule holds the
   eleventh payment uncharged, and operator OP-1 looks and releases it, after which it is charged.

Each run uses its own ids, so the demo can run again on the same platform.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ops.demo import Outcome, Watcher, _summary
from ops.progress import Step, in_turn
from shared import topics

COMMANDS = topics.commands("payments")
SHOWN = ("payments.collection.", "payments.order.created", "payments.payment.", "payments.risk.", "escrow.hold.",
         "escrow.shipment.recorded", "escrow.merchant.credited")


class CollectionDemo:
    def __init__(self, watcher: Watcher, tag: str | None = None) -> None:
        self.w = watcher
        self.tag = tag or uuid.uuid4().hex[:6].upper()

    async def issue(self, code_id: str, merchant: str, **data: Any) -> dict[str, Any]:
        await self.w.send(COMMANDS, "payments.collection.issue", {"code_id": code_id, "merchant_id": merchant, **data},
                          ("merchant", merchant), code_id)
        return (await self.w.wait("payments.collection.issued", code_id=code_id))["data"]

    async def redeem(self, code: dict[str, Any], buyer: str, *, order_id: str | None = None, amount: int | None = None,
                     guaranteed: bool = True) -> str:
        order_id = order_id or code["order_id"]
        await self.w.send(COMMANDS, "payments.collection.redeem", {
            "token": code["token"], "order_id": order_id, "guaranteed": guaranteed, "device_id": f"DEV-{buyer}",
            "amount": {"amount": amount, "currency": "CNY"} if amount is not None else None}, ("buyer", buyer), code["code_id"])
        return order_id

    def timeline(self, outcome: Outcome, *keys: str) -> Outcome:
        """The scenario's events in the order they happened (topics and partitions are read in no particular order)."""
        mine = [m for m in self.w.messages if m.get("type", "").startswith(SHOWN) and any(
            key in ((m.get("data") or {}).get("order_id"), (m.get("data") or {}).get("code_id"), (m.get("data") or {}).get("subject_id"))
            for key in keys)]
        def when(message: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(message["occurred_at"].replace("Z", "+00:00"))

        for message in sorted(mine, key=when):  # stable: one instant keeps the emitting order
            outcome.timeline.append((message["occurred_at"][11:19], message["type"], _summary(message)))
        return outcome

    async def walk_in(self) -> Outcome:
        code_id, order_id, buyer = f"QR-WALKIN-{self.tag}", f"O-WALKIN-{self.tag}", f"B-WALKIN-{self.tag}"
        code = await self.issue(code_id, "M-1001", kind="order", channel="qr_code", order_id=order_id,
                                amount={"amount": 8800, "currency": "CNY"},
                                items=[{"sku": "SKU-TEA-250", "name": "龙井茶 250g Longjing tea", "quantity": 1, "unit_price": 8800}])
        await self.redeem(code, buyer)
        await self.w.wait("escrow.hold.created", order_id=order_id)
        await self.w.send(topics.commands("escrow"), "escrow.shipment.record", {
            "order_id": order_id, "carrier": "到店自提 / collected in store", "tracking_no": f"POS-{self.tag}"}, ("merchant", "M-1001"), order_id)
        await self.w.wait("escrow.shipment.recorded", order_id=order_id)
        await self.w.send(topics.commands("escrow"), "escrow.receipt.confirm", {"order_id": order_id}, ("buyer", buyer), order_id)
        released = (await self.w.wait("escrow.hold.released", order_id=order_id))["data"]
        outcome = Outcome("walk-in", "A walk-in customer pays a sale's QR code (seed 02: 二维码支付)", code_id, order_id,
                          facts={"url": code["url"], "paid": 8800, "fee": released["fee"], "net": released["net"]})
        return self.timeline(outcome, code_id, order_id)

    async def shop_qr(self) -> Outcome:
        code_id = f"SHOP-{self.tag}"
        code = await self.issue(code_id, "M-1002", kind="shop", channel="qr_code")
        fees = {}
        for n, (amount, guaranteed) in enumerate(((2500, True), (1880, False)), 1):
            order_id = await self.redeem(code, f"B-SHOP-{self.tag}-{n}", order_id=f"W-{self.tag}-{n}", amount=amount,
                                         guaranteed=guaranteed)
            paid = (await self.w.wait("payments.payment.succeeded", order_id=order_id))["data"]
            fees[order_id] = {"amount": amount, "guaranteed": guaranteed, "fee": paid["fee"]}
        outcome = Outcome("shop-qr", "Two customers pay the shop's standing QR code, entering their amounts", code_id,
                          ", ".join(fees), facts={"orders": fees})
        return self.timeline(outcome, code_id, *fees)

    async def risk_review(self) -> Outcome:
        code_id, buyer = f"SHOP-RISK-{self.tag}", f"B-HASTY-{self.tag}"
        code = await self.issue(code_id, "M-1002", kind="shop", channel="qr_code")
        orders = [await self.redeem(code, buyer, order_id=f"W-RISK-{self.tag}-{n}", amount=990) for n in range(1, 12)]
        flagged = (await self.w.wait("payments.risk.flagged", order_id=orders[-1]))["data"]
        await self.w.send(COMMANDS, "payments.risk.decide", {"review_id": flagged["review_id"], "decision": "release",
                                                               "note": "买家来电核实，本人操作 / the buyer confirmed by phone"},
                          ("operator", "OP-1"), orders[-1])
        await self.w.wait("payments.payment.succeeded", order_id=orders[-1])
        outcome = Outcome("risk-review", "A customer paying too fast is held for an operator, who releases the payment",
                          flagged["review_id"], orders[-1], facts={"rule": flagged["rule"], "detail": flagged["detail"]})
        return self.timeline(outcome, orders[-1])


SCENARIOS = {"walk-in": CollectionDemo.walk_in, "shop-qr": CollectionDemo.shop_qr, "risk-review": CollectionDemo.risk_review}


async def run(bootstrap: str, names: list[str] | None = None, tag: str | None = None, step: Step | None = None) -> list[Outcome]:
    watcher = Watcher(bootstrap)
    await watcher.start()
    try:
        demo = CollectionDemo(watcher, tag)
        return await in_turn(names or list(SCENARIOS), lambda name: SCENARIOS[name](demo), step)
    finally:
        await watcher.stop()
