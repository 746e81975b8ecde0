"""An operator fixes a dead letter and replays it: it is processed, and only once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ops.kafka import read
from ops.platform import LocalPlatform
from tests.factories import create_order, pay_order
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration


def danbao(platform: LocalPlatform, *args: str) -> str:
    assert platform.broker is not None
    env = {**os.environ, "DANBAO_KAFKA_BOOTSTRAP": platform.broker.bootstrap}
    done = subprocess.run([sys.executable, "-m", "ops.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout + done.stderr


async def test_a_fixed_dead_letter_replayed_twice_is_processed_once(platform: LocalPlatform, kafka: Kafka, tmp_path: Path) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    good = create_order(order_id)
    broken = json.loads(json.dumps(good))
    broken["data"]["buyer_id"] = "B 2001 has spaces"
    await kafka.send("danbao.payments.commands", broken, key=order_id)
    dead = await kafka.read_until("danbao.payments.dlq", lambda ms: any(m["data"]["source_key"] == order_id for m in ms))
    letter = next(m for m in dead if m["data"]["source_key"] == order_id)
    assert letter["data"]["reason"] == "invalid_payload" and "data.buyer_id" in letter["data"]["detail"]

    listing = danbao(platform, "dlq", "list", "payments")
    assert "invalid_payload" in listing
    records = [r async for r in read(kafka.bootstrap, "danbao.payments.dlq", idle_timeout=1)]
    position = next(r for r in records if json.loads(r.value)["data"]["source_key"] == order_id)
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(good))  # same event_id, corrected buyer id
    for _ in range(2):
        danbao(platform, "dlq", "replay", "payments", "--partition", str(position.partition),
               "--offset", str(position.offset), "--fixed", str(fixed))

    # A later command on the same key (so the same partition) is handled after both replays.
    await kafka.send("danbao.payments.commands", pay_order(order_id), key=order_id)
    created = await kafka.read_until(
        "danbao.payments.events", lambda ms: any(of("payments.intent.created", order_id=order_id)(m) for m in ms))
    assert len([m for m in created if of("payments.order.created", order_id=order_id)(m)]) == 1
    assert not [m for m in created if of("payments.command.rejected", aggregate_id=order_id)(m)]
