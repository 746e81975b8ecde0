"""Dead letters through the real broker: an operator has one handled again (once), with the `danbao` CLI;
a corrected command is a new command its sender signs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ops.platform import LocalPlatform
from tests.factories import create_order, pay_order
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration


def danbao(platform: LocalPlatform, *args: str) -> str:
    assert platform.broker is not None
    env = {**os.environ, "DANBAO_KAFKA_BOOTSTRAP": platform.broker.bootstrap, "COLUMNS": "240"}  # ids unwrapped
    done = subprocess.run([sys.executable, "-m", "ops.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout + done.stderr


async def test_an_operator_replays_a_dead_letter_once_and_the_sender_corrects_its_command(
        platform: LocalPlatform, kafka: Kafka, tmp_path: Path) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    good = create_order(order_id)
    broken = json.loads(json.dumps(good))
    broken["data"]["buyer_id"] = "B 2001 has spaces"
    await kafka.send("danbao.payments.commands", broken, key=order_id)
    dead = await kafka.read_until("danbao.payments.dlq", lambda ms: any(m["data"]["source_key"] == order_id for m in ms))
    letter = next(m for m in dead if m["data"]["source_key"] == order_id)
    assert letter["data"]["reason"] == "invalid_payload" and "data.buyer_id" in letter["data"]["detail"]
    assert letter["event_id"] in danbao(platform, "dlq", "list", "payments")

    # The operator has it handled again: still invalid, so dead-lettered again; a second replay is refused.
    for _ in range(2):
        danbao(platform, "dlq", "replay", "payments", letter["event_id"], "--as", "OP-1")
    replayed = await kafka.read_until("danbao.control.events", lambda ms: any(
        of("control.deadletter.replayed", dead_letter_id=letter["event_id"])(m) for m in ms))
    answer = next(m for m in replayed if of("control.deadletter.replayed", dead_letter_id=letter["event_id"])(m))
    assert answer["data"]["outcome"] == "dead_lettered" and answer["data"]["replayed_by"] == "OP-1"
    refused = await kafka.read_until("danbao.payments.events", lambda ms: any(
        of("payments.command.rejected", reason="already_replayed")(m) for m in ms))
    assert [m for m in refused if of("payments.command.rejected", reason="already_replayed")(m)]

    # The corrected command is the merchant's to send (signed for it by `danbao send` in dev mode), then the order lives.
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({k: v for k, v in good.items() if k != "token"}))
    danbao(platform, "send", "danbao.payments.commands", str(fixed))
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    created = await kafka.read_until(
        "danbao.payments.events", lambda ms: any(of("payments.intent.created", order_id=order_id)(m) for m in ms))
    assert len([m for m in created if of("payments.order.created", order_id=order_id)(m)]) == 1
    assert not [m for m in created if of("payments.command.rejected", aggregate_id=order_id)(m)]
