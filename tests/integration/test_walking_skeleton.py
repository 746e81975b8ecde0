"""The walking skeleton through the real broker and real service processes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid

import asyncpg
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey
from sqlalchemy import create_engine, text

from ops.platform import LocalPlatform, ready
from shared.assertions import development_signer
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration


def _signed(command: dict, issuer: str) -> dict:
    """The command with a token, made as an edge in any language would: a JOSE library, SHA-256 and the
    issuer's private key (a JWK from its secret store; here the development key)."""
    jwk = development_signer(issuer).key.as_dict(private=True)
    body = json.dumps({"type": command["type"], "data": command["data"]}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    now = int(time.time())
    claims = {"iss": issuer, "sub": command["actor"]["id"], "kind": command["actor"]["kind"], "roles": [],
              "aud": command["type"].split(".")[0], "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
              "cmd": base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()}
    if command["actor"]["kind"] == "operator":
        claims["roles"] = ["operator"]
    token = jwt.encode({"alg": "Ed25519", "kid": jwk["kid"]}, claims, OKPKey.import_key(jwk), algorithms=["Ed25519"])
    return {**command, "token": token}


def _create(order_id: str, buyer: str = "B-2001") -> dict:
    # Written by hand, as a storefront in any language would: no project code but the key.
    return _signed({
        "event_id": str(uuid.uuid4()), "type": "payments.order.create", "version": 1,
        "occurred_at": "2026-11-23T08:30:00Z", "producer": "storefront", "correlation_id": f"flow-{order_id}",
        "actor": {"kind": "merchant", "id": "M-1001"},
        "data": {"order_id": order_id, "merchant_id": "M-1001", "buyer_id": buyer,
                 "items": [{"sku": "SKU-1", "name": "跑步鞋", "quantity": 2, "unit_price": 6450}],
                 "amount": {"amount": 12900, "currency": "CNY"}, "guaranteed": True, "auto_confirm_days": 7},
    }, "merchant-gateway")


def _pay(order_id: str, buyer: str = "B-2001") -> dict:
    return _signed({
        "event_id": str(uuid.uuid4()), "type": "payments.order.pay", "version": 1,
        "occurred_at": "2026-11-23T08:31:00Z", "producer": "buyer-app", "correlation_id": f"flow-{order_id}",
        "actor": {"kind": "buyer", "id": buyer}, "data": {"order_id": order_id, "method": "qr_code"},
    }, "buyer-app")


async def _holds_in_db(platform: LocalPlatform, order_id: str) -> int:
    """Read the escrow service's own database, as an auditor would."""
    url = platform.extra_env.get("DANBAO_ESCROW_DATABASE_URL") or f"sqlite:///{platform.data_dir / 'escrow.db'}"
    if url.startswith("postgresql://"):
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM escrow_hold WHERE order_id = $1", order_id))
        finally:
            await conn.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM escrow_hold WHERE order_id = :o"), {"o": order_id}).scalar_one()
    engine.dispose()
    return int(n)


async def _restart_escrow_and_expect_one_hold(platform: LocalPlatform, kafka: Kafka, order_id: str) -> None:
    platform.start_service("escrow")
    platform.wait_ready(60, ["escrow"])
    events = await kafka.read_until("danbao.escrow.events", lambda ms: any(of("escrow.hold.created", order_id=order_id)(m) for m in ms), timeout=60)
    assert len({m["event_id"] for m in events if of("escrow.hold.created", order_id=order_id)(m)}) == 1
    assert await _holds_in_db(platform, order_id) == 1


async def test_order_and_qr_payment_end_in_a_hold(kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", _create(order_id), key=order_id)
    await kafka.send("danbao.payments.commands", _pay(order_id), key=order_id)

    holds = await kafka.read_until("danbao.escrow.events", lambda ms: any(of("escrow.ledger.entry_posted", order_id=order_id)(m) for m in ms))
    hold = next(m for m in holds if of("escrow.hold.created", order_id=order_id)(m))
    assert hold["data"]["amount"] == {"amount": 12900, "currency": "CNY"}
    assert hold["data"]["fee"] == 77
    assert hold["correlation_id"] == f"flow-{order_id}"

    payments = await kafka.read_until("danbao.payments.events", lambda ms: any(of("payments.payment.succeeded", order_id=order_id)(m) for m in ms))
    steps = [m["type"] for m in payments if m["data"].get("order_id") == order_id]
    assert steps == ["payments.order.created", "payments.intent.created", "payments.payment.succeeded"]
    entries = [m for m in holds if of("escrow.ledger.entry_posted", order_id=order_id)(m)]
    assert len(entries) == 1 and sum(line["amount"] for line in entries[0]["data"]["lines"]) == 0


async def test_the_qr_code_of_a_collection_code_renders_as_png(platform: LocalPlatform, kafka: Kafka, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code_id = f"QR-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", _signed({
        "event_id": str(uuid.uuid4()), "type": "payments.collection.issue", "version": 1,
        "occurred_at": "2026-11-23T08:30:00Z", "producer": "storefront", "correlation_id": f"code-{code_id}",
        "actor": {"kind": "merchant", "id": "M-1001"},
        "data": {"code_id": code_id, "merchant_id": "M-1001", "kind": "shop", "channel": "qr_code"},
    }, "merchant-gateway"), key=code_id)
    events = await kafka.read_until("danbao.payments.events", lambda ms: any(of("payments.collection.issued", code_id=code_id)(m) for m in ms))
    issued = next(m for m in events if of("payments.collection.issued", code_id=code_id)(m))["data"]
    assert issued["url"].endswith("/" + issued["token"])
    assert platform.broker is not None
    out = tmp_path / "qr.png"
    subprocess.run([sys.executable, "-m", "ops.cli", "qr", code_id, "--png", str(out)], check=True, timeout=60,
                   env={**os.environ, "DANBAO_KAFKA_BOOTSTRAP": platform.broker.bootstrap}, capture_output=True)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 200


async def test_escrow_killed_before_consuming_the_payment_restarts_to_exactly_one_hold(
    platform: LocalPlatform, kafka: Kafka,
) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    platform.kill_service("escrow")  # SIGKILL
    await kafka.send("danbao.payments.commands", _create(order_id), key=order_id)
    await kafka.send("danbao.payments.commands", _pay(order_id), key=order_id)
    await kafka.read_until("danbao.payments.events", lambda ms: any(of("payments.payment.succeeded", order_id=order_id)(m) for m in ms))
    await _restart_escrow_and_expect_one_hold(platform, kafka, order_id)


async def test_escrow_killed_after_its_commit_but_before_the_offset_commit_holds_once(
    platform: LocalPlatform, kafka: Kafka,
) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    platform.kill_service("escrow")
    platform.extra_env["DANBAO_TEST_CRASH_AFTER_COMMIT"] = "escrow"
    platform.start_service("escrow")
    platform.wait_ready(60, ["escrow"])
    platform.extra_env.pop("DANBAO_TEST_CRASH_AFTER_COMMIT")

    await kafka.send("danbao.payments.commands", _create(order_id), key=order_id)
    await kafka.send("danbao.payments.commands", _pay(order_id), key=order_id)
    process = platform.processes["escrow"].process
    assert process is not None
    assert process.wait(timeout=60) == -9  # it killed itself between the two commits
    assert (platform.data_dir / "escrow.crashed").exists()
    await _restart_escrow_and_expect_one_hold(platform, kafka, order_id)  # redelivered; the inbox remembers it


async def test_bad_input_is_dead_lettered_with_a_reason_and_the_service_keeps_serving(
    platform: LocalPlatform, kafka: Kafka,
) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    unknown = {**_create(order_id), "type": "payments.order.teleport"}
    invalid = _create(order_id)
    invalid["data"]["amount"]["amount"] = "a lot"
    await kafka.send("danbao.payments.commands", b'{"type": "payments.order.create", ', key=order_id)
    await kafka.send("danbao.payments.commands", unknown, key=order_id)
    await kafka.send("danbao.payments.commands", invalid, key=order_id)
    await kafka.send("danbao.payments.commands", _create(order_id), key=order_id)

    def mine(ms: list[dict]) -> list[dict]:
        return [m for m in ms if m["data"].get("source_key") == order_id]

    dead = await kafka.read_until("danbao.payments.dlq", lambda ms: len(mine(ms)) >= 3)
    reasons = {m["data"]["reason"]: m["data"] for m in mine(dead)}
    assert set(reasons) == {"malformed_json", "unknown_type", "invalid_payload"}
    assert "payments.order.teleport" in reasons["unknown_type"]["detail"]
    assert "data.amount.amount" in reasons["invalid_payload"]["detail"]
    await kafka.read_until("danbao.payments.events", lambda ms: any(of("payments.order.created", order_id=order_id)(m) for m in ms))
    assert ready(platform.processes["payments"].health_url)


async def test_health_metrics_and_asyncapi_are_served(platform: LocalPlatform, kafka: Kafka) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", _create(order_id), key=order_id)
    await kafka.read_until("danbao.payments.events", lambda ms: any(of("payments.order.created", order_id=order_id)(m) for m in ms))
    for proc in platform.processes.values():
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/health/live", timeout=5) as live:
            assert live.status == 200
        with urllib.request.urlopen(proc.health_url, timeout=5) as response:
            body = json.loads(response.read())
            assert response.status == 200 and body["status"] == "ready"
    with urllib.request.urlopen(f"http://127.0.0.1:{platform.processes['escrow'].port}/metrics", timeout=5) as metrics:
        text_ = metrics.read().decode()
    assert "danbao_outbox_backlog" in text_ and "danbao_open_holds" in text_
    assert "faststream_received_messages_total" in text_
    delays = re.search(r'^danbao_consume_delay_seconds_count\{topic="danbao.payments.events"\} (\S+)$', text_, re.M)
    assert delays and float(delays.group(1)) >= 1  # escrow read the order's events
    with urllib.request.urlopen(f"http://127.0.0.1:{platform.processes['payments'].port}/metrics", timeout=5) as metrics:
        payments_metrics = metrics.read().decode()
    published = re.search(r'^danbao_outbox_published_total\{topic="danbao.payments.events"\} (\S+)$', payments_metrics, re.M)
    assert published and float(published.group(1)) >= 1
    with urllib.request.urlopen(f"http://127.0.0.1:{platform.processes['payments'].port}/docs/asyncapi.json", timeout=5) as doc:
        spec = json.loads(doc.read())
    assert spec["asyncapi"] == "3.0.0" and any("danbao.payments.commands" in c for c in spec["channels"])


async def test_the_test_clock_moves_through_the_broker(platform: LocalPlatform, kafka: Kafka) -> None:
    command = _signed({
        "event_id": str(uuid.uuid4()), "type": "control.clock.advance", "version": 1,
        "occurred_at": "2026-11-23T08:30:00Z", "producer": "test", "correlation_id": "clock-1",
        "actor": {"kind": "operator", "id": "OP-1"}, "data": {"seconds": 10 * 86400},
    }, "operator-console")
    await kafka.send("danbao.control.commands", command, key="clock")
    answers = await kafka.read_until(
        "danbao.control.events",
        lambda ms: {m["data"]["service"] for m in ms if m["correlation_id"] == "clock-1"} >= {"payments", "escrow", "onboarding", "disputes", "notifications"},
    )
    moved = [m for m in answers if m["correlation_id"] == "clock-1"]
    assert all(m["type"] == "control.clock.advanced" and m["data"]["offset_seconds"] >= 864000 for m in moved)


async def test_one_trade_is_one_trace_across_the_services_and_the_provider(kafka: Kafka) -> None:
    """The caller's trace context (W3C traceparent) goes from payments to the provider simulator, back, and on to
    escrow: every record of the trade carries the same trace id."""
    from aiokafka import AIOKafkaProducer

    from ops.kafka import read

    order_id, trace_id = f"O-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for document in (_create(order_id), _pay(order_id)):
            await producer.send_and_wait("danbao.payments.commands", json.dumps(document).encode(), key=order_id.encode(),
                                         headers=[("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01".encode())])
    finally:
        await producer.stop()
    await kafka.read_until("danbao.escrow.events", lambda ms: any(of("escrow.hold.created", order_id=order_id)(m) for m in ms))
    traced: dict[str, str] = {}
    for topic in ("danbao.payments.events", "danbao.psp.requests", "danbao.psp.callbacks", "danbao.escrow.events"):
        async for record in read(kafka.bootstrap, topic, idle_timeout=1.0):
            if order_id in (record.value or b"").decode():
                traced[json.loads(record.value)["type"]] = dict(record.headers).get("traceparent", b"").decode()
    assert {"payments.order.created", "psp.charge.requested", "psp.charge.completed", "payments.payment.succeeded",
            "escrow.hold.created"} <= set(traced)
    assert {parent.split("-")[1] for parent in traced.values()} == {trace_id}

