"""Two replicas of every service on PostgreSQL (on SQLite files where no PostgreSQL is given), topics of four partitions, concurrent trades for the same merchants:
no update is lost (each merchant's monthly volume is the sum of its payments), the books balance, each outbox row
is published once in order (the relay's lease across processes), and the audit finds nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from sqlalchemy import create_engine, text

from ops.audit import audit
from ops.broker import free_ports
from ops.platform import SERVICES, LocalPlatform, port_env, ready, stop_processes
from tests.conftest import POSTGRES_URL
from tests.factories import confirm_receipt, create_order, pay_order, record_shipment
from tests.integration.conftest import Kafka, of, running_platform

pytestmark = pytest.mark.integration
BACKEND = "postgres" if POSTGRES_URL else "sqlite"  # CI sets DANBAO_TEST_POSTGRES_URL: the production store


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with running_platform(BACKEND, tmp_path_factory.mktemp("replicas")) as running:
        assert running.partitions == 4
        ports = free_ports(len(SERVICES))
        replicas = []
        for service in SERVICES:
            log = open(running.data_dir / "logs" / f"{service}-2.log", "ab")  # noqa: SIM115 - the child owns it
            replicas.append((service, ports[-1], subprocess.Popen(
                [sys.executable, "-m", "ops.cli", "serve", service], env={**running.env(), port_env(service): str(ports.pop())},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)))
        try:
            deadline = datetime.now(timezone.utc) + timedelta(seconds=90)
            for service, port, process in replicas:
                while not ready(f"http://127.0.0.1:{port}/health/ready"):
                    assert process.poll() is None, f"the second {service} exited"
                    assert datetime.now(timezone.utc) < deadline, f"the second {service} is not ready"
                    asyncio.run(asyncio.sleep(0.2))
            running.replica_ports = {service: port for service, port, _ in replicas}  # type: ignore[attr-defined]
            yield running
        finally:
            stop_processes([process for _, _, process in replicas])


async def test_concurrent_trades_on_two_replicas_lose_nothing(platform: LocalPlatform, kafka: Kafka) -> None:
    await asyncio.sleep(8)  # both members of each consumer group have their partitions
    orders = [(f"O-R-{uuid.uuid4().hex[:8]}", merchant, f"B-R-{n}", 1000 + n) for n, merchant in
              enumerate(["M-1002", "M-1003"] * 15)]
    await asyncio.gather(*(kafka.send("danbao.payments.commands", create_order(o, merchant=m, buyer=b, unit_price=p), key=o)
                           for o, m, b, p in orders))
    await asyncio.gather(*(kafka.send("danbao.payments.commands", pay_order(o, buyer=b), key=o) for o, _, b, _ in orders))
    held = {o for o, *_ in orders}
    await kafka.read_until("danbao.escrow.events", lambda ms: held <= {m["data"].get("order_id") for m in ms
                                                                         if m["type"] == "escrow.hold.created"}, timeout=120)
    await asyncio.gather(*(kafka.send("danbao.escrow.commands", record_shipment(o, merchant=m), key=o) for o, m, _, _ in orders))
    await asyncio.gather(*(kafka.send("danbao.escrow.commands", confirm_receipt(o, buyer=b), key=o) for o, _, b, _ in orders))
    events = await kafka.read_until("danbao.escrow.events", lambda ms: held <= {m["data"].get("order_id") for m in ms
                                                                                  if m["type"] == "escrow.hold.released"}, timeout=120)
    released = [m for m in events if m["type"] == "escrow.hold.released" and m["data"]["order_id"] in held]
    assert len(released) == len(orders) == len({m["event_id"] for m in released})  # each published once

    month = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m")
    url = platform.extra_env.get("DANBAO_PAYMENTS_DATABASE_URL") or f"sqlite:///{platform.data_dir / 'payments.db'}"
    if url.startswith("postgresql://"):
        connection = await asyncpg.connect(url)
        try:
            volumes = dict(await connection.fetch("SELECT merchant_id, paid FROM merchant_month_volume WHERE month = $1", month))
        finally:
            await connection.close()
    else:
        engine = create_engine(url)
        with engine.connect() as sqlite:
            volumes = dict(sqlite.execute(text("SELECT merchant_id, paid FROM merchant_month_volume WHERE month = :month"),
                                          {"month": month}).all())
        engine.dispose()
    for merchant in ("M-1002", "M-1003"):
        assert volumes[merchant] == sum(p for _, m, _, p in orders if m == merchant)  # no payment's volume lost
    trial = subprocess.run([sys.executable, "-m", "ops.cli", "ledger", "trial-balance"], capture_output=True, text=True,
                           env={**os.environ, "DANBAO_DATA_DIR": str(platform.data_dir), **platform.extra_env}, timeout=120)
    assert trial.returncode == 0, trial.stdout + trial.stderr
    for service in ("payments", "escrow"):  # both replicas did part of the work
        for port in (platform.processes[service].port, platform.replica_ports[service]):  # type: ignore[attr-defined]
            assert _received(port) > 0, f"the {service} replica on port {port} handled nothing"
    assert platform.broker is not None
    report = await audit(platform.broker.bootstrap)
    assert report.ok, [b for r in report.checks.values() for b in r.breaches][:10]
    assert any(of("payments.payment.succeeded", order_id=orders[0][0])(m) for m in await kafka.read_until(
        "danbao.payments.events", lambda ms: any(of("payments.payment.succeeded", order_id=orders[0][0])(m) for m in ms)))


def _received(port: int) -> float:
    """The messages a process's subscribers received (FastStream's Prometheus counter)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text_ = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text_.splitlines()
               if line.startswith("faststream_received_messages_total{"))
