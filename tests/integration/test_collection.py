"""Walk-in collection through the real broker and processes (seed 02): the merchant issues a QR code for one sale
or its shop's standing QR code; any customer pays with it; the money is held, shipped, confirmed and released."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from ops.platform import LocalPlatform
from tests.factories import advance_clock, confirm_receipt, issue_code, record_shipment, redeem_code, sign
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


async def _issued(kafka: Kafka, command: dict[str, Any]) -> dict[str, Any]:
    code_id = command["data"]["code_id"]
    await kafka.send("danbao.payments.commands", command, key=code_id)
    events = await kafka.read_until("danbao.payments.events", _has("payments.collection.issued", code_id=code_id))
    return next(m for m in events if of("payments.collection.issued", code_id=code_id)(m))["data"]


async def _rejection(kafka: Kafka, command: dict[str, Any], key: str) -> dict[str, Any]:
    await kafka.send("danbao.payments.commands", command, key=key)
    done = lambda ms: any(m["type"] == "payments.command.rejected" and m["data"]["command_event_id"] == command["event_id"] for m in ms)  # noqa: E731
    events = await kafka.read_until("danbao.payments.events", done)
    return next(m for m in events if m["type"] == "payments.command.rejected" and m["data"]["command_event_id"] == command["event_id"])["data"]


async def test_a_walk_in_customer_pays_the_sale_qr_code_and_the_money_is_released(kafka: Kafka, platform: LocalPlatform) -> None:
    code_id, order_id, buyer = f"QR-{uuid.uuid4().hex[:8]}", f"O-{uuid.uuid4().hex[:8]}", f"B-WALK-{uuid.uuid4().hex[:6]}"
    code = await _issued(kafka, issue_code(code_id, order_id=order_id, unit_price=8800))
    # the code opens the platform's cashier (DANBAO_PAYMENTS_PAY_BASE_URL: here the web edge's)
    assert code["url"] == f"{platform.web_url}/c/{code['token']}" and code["merchant_verified"] is True
    assert (code["kind"], code["amount"], code["guarantee_available"]) == ("order", {"amount": 8800, "currency": "CNY"}, True)

    await kafka.send("danbao.payments.commands", redeem_code(code["token"], buyer=buyer), key=code_id)
    payments = await kafka.read_until("danbao.payments.events", _has("payments.payment.succeeded", order_id=order_id))
    mine = [m for m in payments if m["data"].get("order_id") == order_id and m["type"] != "payments.collection.issued"]
    assert [m["type"] for m in mine] == ["payments.collection.redeemed", "payments.order.created", "payments.intent.created",
                                         "payments.payment.succeeded"]
    created = mine[1]["data"]
    assert (created["buyer_id"], created["merchant_id"], created["collection_code_id"]) == (buyer, "M-1001", code_id)

    # single use: a second customer scanning the same code is refused, and nothing else happens
    refused = await _rejection(kafka, redeem_code(code["token"], buyer="B-SECOND"), code_id)
    assert refused["reason"] == "code_used"
    # a forged code: the token's claims changed, the signature kept
    header, _, signature = code["token"].split(".")
    forged = await _rejection(kafka, redeem_code(f"{header}.eyJzdWIiOiJRUi1YIn0.{signature}", buyer="B-SECOND"), code_id)
    assert forged["reason"] == "invalid_code"

    await kafka.read_until("danbao.escrow.events", _has("escrow.ledger.entry_posted", order_id=order_id, kind="payment_held"))
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id, buyer=buyer), key=order_id)
    escrow = await kafka.read_until("danbao.escrow.events", _has("escrow.hold.released", order_id=order_id))
    released = next(m for m in escrow if of("escrow.hold.released", order_id=order_id)(m))["data"]
    assert released["amount"]["amount"] == 8800 and released["net"] == 8800 - released["fee"]


async def test_the_shop_code_takes_any_customer_and_amount_until_it_is_revoked(kafka: Kafka) -> None:
    code_id = f"SHOP-{uuid.uuid4().hex[:8]}"
    code = await _issued(kafka, issue_code(code_id, kind="shop", channel="qr_code"))
    assert code["kind"] == "shop" and code["amount"] is None and code["order_id"] is None
    sales = {f"W-{uuid.uuid4().hex[:8]}": (f"B-{uuid.uuid4().hex[:6]}", amount, guaranteed)
             for amount, guaranteed in ((1880, True), (990, False))}
    for order_id, (buyer, amount, guaranteed) in sales.items():
        await kafka.send("danbao.payments.commands", redeem_code(code["token"], buyer=buyer, order_id=order_id, amount=amount,
                                                                guaranteed=guaranteed), key=code_id)
    fees = []
    for order_id, (buyer, amount, guaranteed) in sales.items():
        events = await kafka.read_until("danbao.payments.events", _has("payments.payment.succeeded", order_id=order_id))
        paid = next(m for m in events if of("payments.payment.succeeded", order_id=order_id)(m))["data"]
        assert (paid["buyer_id"], paid["amount"]["amount"], paid["guaranteed"], paid["merchant_id"]) == (buyer, amount, guaranteed, "M-1001")
        fees.append(paid["fee"])
    assert fees == [11, 6]  # 60 bp of 1880 and of 990, half up: the guarantee costs nothing extra

    usd = await _rejection(kafka, redeem_code(code["token"], order_id=f"W-{uuid.uuid4().hex[:8]}", amount=100, currency="USD"), code_id)
    assert usd["reason"] == "unsupported_currency"
    revoke = issue_code(code_id) | {"type": "payments.collection.revoke", "data": {"code_id": code_id, "merchant_id": "M-1001"}}
    await kafka.send("danbao.payments.commands", sign(revoke), key=code_id)
    await kafka.read_until("danbao.payments.events", _has("payments.collection.revoked", code_id=code_id))
    revoked = await _rejection(kafka, redeem_code(code["token"], order_id=f"W-{uuid.uuid4().hex[:8]}", amount=100), code_id)
    assert revoked["reason"] == "code_revoked"


async def test_a_code_stops_working_when_it_expires(kafka: Kafka) -> None:
    code_id = f"QR-{uuid.uuid4().hex[:8]}"
    code = await _issued(kafka, issue_code(code_id, valid_minutes=1))
    tag = f"clock-{code_id}"
    await kafka.send("danbao.control.commands", advance_clock(120, tag), key="clock")
    await kafka.read_until("danbao.control.events", lambda ms: any(m["correlation_id"] == tag and m["data"]["service"] == "payments" for m in ms))
    expired = await _rejection(kafka, redeem_code(code["token"]), code_id)
    assert expired["reason"] == "code_expired"


async def test_danbao_collect_and_pay_issue_a_shop_code_and_pay_with_it(platform: LocalPlatform, kafka: Kafka) -> None:
    assert platform.broker is not None
    env = {**os.environ, "DANBAO_KAFKA_BOOTSTRAP": platform.broker.bootstrap}
    code_id, order_id = f"SHOP-{uuid.uuid4().hex[:8]}", f"W-{uuid.uuid4().hex[:8]}"

    def danbao(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "ops.cli", *args], check=True, timeout=60, env=env,
                              capture_output=True, text=True).stderr  # what it tells the person

    assert code_id in danbao("collect", "M-1002", "--code-id", code_id)
    await kafka.read_until("danbao.payments.events", _has("payments.collection.issued", code_id=code_id))
    danbao("pay", code_id, "--buyer", "B-CLI-1", "--amount", "2500", "--order-id", order_id)
    events = await kafka.read_until("danbao.payments.events", _has("payments.payment.succeeded", order_id=order_id))
    paid = next(m for m in events if of("payments.payment.succeeded", order_id=order_id)(m))["data"]
    assert (paid["merchant_id"], paid["buyer_id"], paid["amount"]["amount"]) == ("M-1002", "B-CLI-1", 2500)


async def test_danbao_demo_collection_shows_a_walk_in_sale_a_shop_qr_sale_and_a_risk_review(platform: LocalPlatform) -> None:
    from ops.demo_collection import run

    assert platform.broker is not None
    walk_in, shop, review = await run(platform.broker.bootstrap)
    assert walk_in.facts["net"] == 8800 - walk_in.facts["fee"] and walk_in.facts["url"].startswith(f"{platform.web_url}/c/")
    assert [t for _, t, _ in walk_in.timeline][:2] == ["payments.collection.issued", "payments.collection.redeemed"]
    assert "escrow.hold.released" in [t for _, t, _ in walk_in.timeline]
    assert [o["guaranteed"] for o in shop.facts["orders"].values()] == [True, False]
    assert review.facts["rule"] == "R-VELOCITY-BUYER"
    kinds = [t for _, t, _ in review.timeline]
    assert kinds.index("payments.risk.flagged") < kinds.index("payments.risk.decided") < kinds.index("payments.payment.succeeded")


async def test_input_rules_an_event_id_renminbi_and_the_cancellation_note(platform: LocalPlatform, kafka: Kafka) -> None:
    from tests.factories import cancel_order, create_order

    order_id = f"O-{uuid.uuid4().hex[:8]}"
    nameless = {k: v for k, v in create_order(order_id).items() if k != "event_id"}
    nameless["correlation_id"] = f"no-id-{order_id}"
    await kafka.send("danbao.payments.commands", nameless, key=order_id)
    events = await kafka.read_until("danbao.payments.events", lambda ms: any(
        m["type"] == "payments.command.rejected" and m["correlation_id"] == nameless["correlation_id"] for m in ms))
    refused = next(m for m in events if m["correlation_id"] == nameless["correlation_id"])["data"]
    assert refused["reason"] == "missing_event_id"

    usd = create_order(f"{order_id}-USD")
    usd["data"]["amount"]["currency"] = "USD"
    assert (await _rejection(kafka, sign(usd), order_id))["reason"] == "unsupported_currency"

    await kafka.send("danbao.payments.commands", create_order(order_id), key=order_id)
    cancel = cancel_order(order_id, "out_of_stock", actor=("merchant", "M-1001"))
    cancel["data"]["note"] = "尺码缺货 / size sold out"
    await kafka.send("danbao.payments.commands", sign(cancel), key=order_id)
    events = await kafka.read_until("danbao.payments.events", _has("payments.order.cancelled", order_id=order_id))
    assert next(m for m in events if of("payments.order.cancelled", order_id=order_id)(m))["data"]["note"] == "尺码缺货 / size sold out"
    env = {**os.environ, "DANBAO_DATA_DIR": str(platform.data_dir), **platform.extra_env}
    listing = subprocess.run([sys.executable, "-m", "ops.cli", "report", "cancellations", "--notes", "50", "--csv"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)
    row = next(line for line in listing.stdout.splitlines() if order_id in line)
    assert row.endswith(f",{order_id},M-1001,merchant,out_of_stock,尺码缺货 / size sold out")
