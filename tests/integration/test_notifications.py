"""Notifications through the real broker and processes: an order's life told to its buyer
(zh-CN) and merchant (en) by SMS, push and e-mail; the activation code e-mailed to a new
merchant; a merchant webhook that fails twice; a replayed event that sends nothing new.

E-mail goes to an aiosmtpd server and webhooks to an HTTP receiver, both run by this module on
loopback; SMS and push go to the messaging simulator, which the test reads back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from ops.broker import free_port
from ops.platform import LocalPlatform
from services.notifications.webhooks import HEADER, SignatureError, verify
from services.simulators.registry import ACTIVE_2
from tests.conftest import PRODUCTION_STORE
from tests.factories import (
    apply_for_merchant,
    confirm_receipt,
    create_order,
    envelope,
    pay_order,
    record_shipment,
    register_contact,
    register_webhook,
)
from tests.integration.conftest import Kafka, of, running_platform

pytestmark = pytest.mark.integration

BUYER_PHONE, BUYER_DEVICE = "13912340001", "dvc-buyer-0001"
MERCHANT_EMAIL, MERCHANT_DEVICE = "orders@shop-1001.example.com", "dvc-merchant-1001"
OLD_SECRET, NEW_SECRET = "whsec_old_" + "a" * 32, "whsec_new_" + "b" * 32


class Mailbox:
    """An SMTP server on loopback (aiosmtpd) that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.port = free_port()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if m["To"] == address]


class Receiver(BaseHTTPRequestHandler):
    """A merchant's webhook endpoint: /flaky answers 500 twice then 200; /ok always 200."""

    calls: list[dict[str, Any]] = []
    flaky_failures = 2

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        failing = self.path == "/flaky" and sum(c["path"] == "/flaky" for c in Receiver.calls) < Receiver.flaky_failures
        Receiver.calls.append({"path": self.path, "body": body, "headers": dict(self.headers), "at": time.time(),
                               "answered": 500 if failing else 200})
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module", params=PRODUCTION_STORE)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox,
             receiver: str) -> Iterator[LocalPlatform]:
    Receiver.calls = []
    env = {"DANBAO_NOTIFICATIONS_SMTP_HOST": "127.0.0.1", "DANBAO_NOTIFICATIONS_SMTP_PORT": str(mailbox.port),
           # short real-time backoff for the webhook test: 0.5 s, then 1 s
           "DANBAO_NOTIFICATIONS_RETRY_BASE_SECONDS": "0.5", "DANBAO_NOTIFICATIONS_RETRY_FACTOR": "2",
           "DANBAO_NOTIFICATIONS_RETRY_HORIZON_SECONDS": "60"}
    with running_platform(request.param, tmp_path_factory.mktemp("platform"), env) as running:
        yield running


def _sent(ms: list[dict[str, Any]], **data: Any) -> list[dict[str, Any]]:
    return [m for m in ms if of("notifications.notification.sent", **data)(m)]


async def _wait(condition: Any, timeout: float = 30.0) -> Any:
    """Poll ``condition()`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        await asyncio.sleep(0.2)


async def _simulator(platform: LocalPlatform, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{platform.messaging_url}/{kind}/messages")).json()


def _log(platform: LocalPlatform, *args: str) -> str:
    env = {**os.environ, "DANBAO_DATA_DIR": str(platform.data_dir), **platform.extra_env}
    result = subprocess.run([sys.executable, "-m", "ops.cli", "notifications", "log", "--csv", *args], env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


async def test_an_orders_life_reaches_the_buyer_in_chinese_and_the_merchant_in_english(
        platform: LocalPlatform, kafka: Kafka, mailbox: Mailbox) -> None:
    buyer, order_id = f"B-{uuid.uuid4().hex[:6]}", f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.notifications.commands", register_contact("buyer", buyer, phone=BUYER_PHONE, push_token=BUYER_DEVICE), key=buyer)
    await kafka.send("danbao.notifications.commands", register_contact(
        "merchant", "M-1001", email=MERCHANT_EMAIL, push_token=MERCHANT_DEVICE, language="en"), key="M-1001")
    await kafka.read_until("danbao.notifications.events", lambda ms: {m["data"].get("party_id") for m in ms
                                                                      if m["type"] == "notifications.contact.registered"} >= {buyer, "M-1001"})
    await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)
    await kafka.read_until("danbao.escrow.events", lambda ms: any(of("escrow.hold.created", order_id=order_id)(m) for m in ms))
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    await kafka.send("danbao.escrow.commands", confirm_receipt(order_id, buyer=buyer), key=order_id)

    expected = {
        ("buyer", "push", "order_created.buyer"), ("buyer", "sms", "payment_succeeded.buyer"), ("buyer", "push", "payment_succeeded.buyer"),
        ("buyer", "sms", "shipment_recorded.buyer"), ("buyer", "push", "shipment_recorded.buyer"), ("buyer", "push", "hold_released.buyer"),
        ("merchant", "push", "order_created.merchant"), ("merchant", "email", "order_created.merchant"),
        ("merchant", "push", "payment_succeeded.merchant"), ("merchant", "email", "payment_succeeded.merchant"),
        ("merchant", "push", "hold_released.merchant"), ("merchant", "email", "hold_released.merchant"),
    }

    def mine(ms: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
        return {(m["data"]["recipient"], m["data"]["channel"], m["data"]["template"]) for m in ms
                if m["type"] == "notifications.notification.sent" and m["correlation_id"] == f"flow-{order_id}"}

    events = await kafka.read_until("danbao.notifications.events", lambda ms: mine(ms) >= expected, timeout=60)
    assert mine(events) == expected
    flow = [m["data"] for m in events if m["correlation_id"] == f"flow-{order_id}" and m["type"].startswith("notifications.")]
    assert {(d["recipient"], d["language"]) for d in flow} == {("buyer", "zh-CN"), ("merchant", "en")}
    assert {d["to_masked"] for d in flow if d["channel"] == "sms"} == {"139****0001"}
    assert BUYER_PHONE not in json.dumps(events) and MERCHANT_EMAIL not in json.dumps(events)

    sms = [m["text"] for m in await _simulator(platform, "sms") if m["to"] == BUYER_PHONE and order_id in m["text"]]
    paid_text = f"【担保】您已为订单 {order_id} 付款 ¥129.00。资金由担保平台托管，您确认收货后才付给商家。"
    (shipped_text,) = [t for t in sms if t != paid_text]
    assert sorted(sms) == sorted([paid_text, shipped_text])
    assert re.fullmatch(rf"【担保】订单 {order_id} 已发货：SF Express 顺丰 SF1234567890。如未操作，将于 "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d（北京时间） 自动确认收货。", shipped_text)
    push = {m["device_token"]: [] for m in await _simulator(platform, "push")}
    for m in await _simulator(platform, "push"):
        if order_id in m["title"]:
            push[m["device_token"]].append(m["title"])
    assert sorted(push[BUYER_DEVICE]) == sorted([f"订单 {order_id} 已创建", f"订单 {order_id} 付款成功", f"订单 {order_id} 已发货",
                                                 f"订单 {order_id} 交易完成"])
    assert sorted(push[MERCHANT_DEVICE]) == sorted([f"New order {order_id}", f"Order {order_id} paid: please ship",
                                                    f"Order {order_id}: funds released"])

    mails = {m["Subject"]: m for m in mailbox.to(MERCHANT_EMAIL) if order_id in m["Subject"]}
    assert set(mails) == {f"New order {order_id}", f"Order {order_id} paid: please ship", f"Order {order_id}: funds released"}
    released = mails[f"Order {order_id}: funds released"]
    body = released.get_body(preferencelist=("plain",)).get_content()
    assert "Hello," in body and "the buyer confirmed receipt" in body and "less the CNY 0.77 fee" in body and "CNY 128.23" in body
    assert released["From"] == "Danbao 担保 <notify@danbao.example>" and released["Message-ID"].endswith("@notifications.danbao>")

    log = _log(platform, "--recipient", buyer)
    assert "139****0001" in log and BUYER_PHONE not in log and ",sent," in log
    assert {line.split(",")[6] for line in log.splitlines()[1:]} >= {"payment_succeeded.buyer", "shipment_recorded.buyer"}


async def test_the_activation_code_reaches_the_new_merchant_by_email_and_activates_it(
        platform: LocalPlatform, kafka: Kafka, mailbox: Mailbox) -> None:
    merchant = f"M-{uuid.uuid4().hex[:8]}"
    address = f"finance-{merchant.lower()}@example.com"
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(merchant, ACTIVE_2, legal_name="杭州绿盾科技有限公司", email=address), key=merchant)
    mails = await _wait(lambda: [m for m in mailbox.to(address) if m["Subject"] == "您的商户激活码"], timeout=45)
    text = mails[0].get_body(preferencelist=("plain",)).get_content()
    code = re.search(r"激活码是：(\d{6})", text)
    assert code and "请勿告诉他人" in text
    assert any(m["Subject"] == "商户入驻申请已收到" for m in mailbox.to(address))

    await kafka.send("danbao.onboarding.commands", envelope("onboarding.merchant.activate", {
        "merchant_id": merchant, "activation_code": code.group(1)}, actor=("merchant", merchant)), key=merchant)
    await kafka.read_until("danbao.onboarding.events", lambda ms: any(of("onboarding.merchant.activated", merchant_id=merchant)(m) for m in ms))
    await _wait(lambda: [m for m in mailbox.to(address) if m["Subject"] == "商户已激活"])

    # neither the code nor the address is kept or logged in plain text by notifications
    written = (platform.data_dir / "logs" / "notifications.log").read_bytes()
    if "DANBAO_NOTIFICATIONS_DATABASE_URL" not in platform.extra_env:
        written += b"".join(p.read_bytes() for p in platform.data_dir.glob("notifications.db*"))
    assert code.group(1).encode() not in written and address.encode() not in written
    events = b"".join([json.dumps(m).encode() for m in await kafka.read_until(
        "danbao.notifications.events", lambda ms: bool(_sent(ms, recipient_id=merchant, template="merchant_activated.merchant")))])
    assert code.group(1).encode() not in events and address.encode() not in events


async def test_a_webhook_that_fails_twice_gets_three_signed_attempts_and_a_rotation_signs_with_both(
        platform: LocalPlatform, kafka: Kafka, receiver: str) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.notifications.commands", register_webhook("M-1002", f"{receiver}/flaky", OLD_SECRET), key="M-1002")
    await kafka.read_until("danbao.notifications.events", lambda ms: any(of("notifications.webhook.registered", merchant_id="M-1002")(m) for m in ms))
    await kafka.send("danbao.payments.commands", create_order(order_id, merchant="M-1002"), key=order_id)

    calls = await _wait(lambda: [c for c in Receiver.calls if c["path"] == "/flaky" and c["answered"] == 200], timeout=45)
    attempts = [c for c in Receiver.calls if c["path"] == "/flaky"]
    assert [c["answered"] for c in attempts] == [500, 500, 200] and len(calls) == 1
    for call in attempts:
        verify(call["body"], call["headers"][HEADER], OLD_SECRET, now=time.time())  # raises if the signature is wrong
        assert json.loads(call["body"])["type"] == "payments.order.created"
        assert json.loads(call["body"])["data"]["order_id"] == order_id
    assert len({c["headers"]["Danbao-Delivery-Id"] for c in attempts}) == 1
    assert attempts[1]["at"] - attempts[0]["at"] >= 0.5 and attempts[2]["at"] - attempts[1]["at"] >= 1.0  # backoff doubles
    with pytest.raises(SignatureError):
        verify(attempts[0]["body"], attempts[0]["headers"][HEADER], OLD_SECRET, now=time.time() + 301)
    with pytest.raises(SignatureError):
        verify(attempts[0]["body"] + b" ", attempts[0]["headers"][HEADER], OLD_SECRET, now=time.time())

    events = await kafka.read_until("danbao.notifications.events", lambda ms: bool(
        _sent(ms, recipient_id="M-1002", channel="webhook", source_type="payments.order.created")))
    delivery = attempts[0]["headers"]["Danbao-Delivery-Id"]
    tried = [m["data"] for m in events if of("notifications.webhook.attempted", notification_id=delivery)(m)]
    assert [(t["attempt"], t["status_code"], t["outcome"]) for t in tried] == [(1, 500, "retrying"), (2, 500, "retrying"), (3, 200, "delivered")]
    assert _sent(events, notification_id=delivery)[0]["data"]["attempts"] == 3
    attempts_log = subprocess.run([sys.executable, "-m", "ops.cli", "notifications", "log", "--recipient", "M-1002", "--attempts"],
                                  env={**os.environ, "DANBAO_DATA_DIR": str(platform.data_dir), **platform.extra_env, "COLUMNS": "250"},
                                  capture_output=True, text=True, timeout=60, check=True).stdout
    assert attempts_log.count(delivery) >= 4 and "HTTP 500" in attempts_log and OLD_SECRET not in attempts_log

    # the merchant rotates its secret: while the overlap lasts, both secrets sign every delivery
    await kafka.send("danbao.notifications.commands", register_webhook("M-1002", f"{receiver}/ok", NEW_SECRET), key="M-1002")
    await kafka.read_until("danbao.notifications.events", lambda ms: any(
        of("notifications.webhook.registered", merchant_id="M-1002")(m) and m["data"]["previous_secret_id"] for m in ms))
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    paid = await _wait(lambda: [c for c in Receiver.calls if c["path"] == "/ok"
                                and json.loads(c["body"])["type"] == "payments.payment.succeeded"], timeout=45)
    header = paid[0]["headers"][HEADER]
    assert header.count("v1=") == 2
    verify(paid[0]["body"], header, NEW_SECRET, now=time.time())
    verify(paid[0]["body"], header, OLD_SECRET, now=time.time())


async def test_a_replayed_event_sends_nothing_new(platform: LocalPlatform, kafka: Kafka, mailbox: Mailbox) -> None:
    buyer, order_id = f"B-{uuid.uuid4().hex[:6]}", f"O-{uuid.uuid4().hex[:8]}"
    phone, device = "13912340002", f"dvc-{buyer}"
    await kafka.send("danbao.notifications.commands", register_contact("buyer", buyer, phone=phone, push_token=device), key=buyer)
    await kafka.read_until("danbao.notifications.events", lambda ms: any(
        of("notifications.contact.registered", party_id=buyer)(m) for m in ms))
    await kafka.send("danbao.payments.commands", create_order(order_id, buyer=buyer, merchant="M-1003"), key=order_id)
    await kafka.send("danbao.payments.commands", pay_order(order_id, buyer=buyer), key=order_id)
    # told: the order (push) and the payment (SMS and push); merchant M-1003 has no contact
    told = await kafka.read_until("danbao.notifications.events", lambda ms: len(_sent(ms, recipient_id=buyer)) == 3)
    paid = await kafka.read_until("danbao.payments.events", lambda ms: any(of("payments.payment.succeeded", order_id=order_id)(m) for m in ms))
    original = next(m for m in paid if of("payments.payment.succeeded", order_id=order_id)(m))
    assert len(_sent(told, source_event_id=original["event_id"])) == 2
    before = (len(await _simulator(platform, "sms")), len(await _simulator(platform, "push")), len(mailbox.messages))

    for _ in range(2):
        await kafka.send("danbao.payments.events", original, key=order_id)  # the same event, delivered again
    # a fresh event on the same partition, after the replays: once it is told, the replays were handled
    marker = envelope("payments.order.cancellation_refused", {"order_id": order_id, "reason": "already_shipped"},
                      actor=("system", "payments"), correlation_id=f"marker-{order_id}")
    await kafka.send("danbao.payments.events", marker, key=order_id)
    events = await kafka.read_until("danbao.notifications.events", lambda ms: bool(_sent(ms, source_event_id=marker["event_id"])), timeout=45)

    assert len(_sent(events, source_event_id=original["event_id"])) == 2
    after = (len(await _simulator(platform, "sms")), len(await _simulator(platform, "push")), len(mailbox.messages))
    assert after == (before[0], before[1] + 1, before[2])  # only the marker's push to the buyer
    logged = [line.split(",") for line in _log(platform, "--event", original["event_id"]).splitlines()[1:]]
    assert sorted((row[3], row[5], row[8]) for row in logged) == [
        (f"buyer {buyer}", "push", "sent"), (f"buyer {buyer}", "sms", "sent"), ("merchant M-1003", "none", "skipped")]
