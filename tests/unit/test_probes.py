"""The probes a process serves: ``/health/live`` from its first second (before the broker answers),
``/health/ready`` with the reasons it is not ready, and ``/metrics`` in every process, simulators included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.broker import free_ports
from shared import topics
from shared.db import Database
from shared.service_http import readiness
from tests.factories import create_order, encode
from tests.handlers.harness import serving

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int | None, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, {}


def _serve(name: str, port_variable: str, tmp_path: Path, wait_seconds: float) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_ports(1)[0]
    log = tmp_path / f"{name}.log"
    env = {**os.environ, "DANBAO_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}", "DANBAO_DATA_DIR": str(tmp_path),
           "DANBAO_MODE": "test", "DANBAO_BROKER_WAIT_SECONDS": str(wait_seconds), port_variable: str(port)}
    process = subprocess.Popen([sys.executable, "-m", "ops.cli", "serve", name], env=env, cwd=ROOT,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    return process, port, log


@pytest.mark.parametrize(("name", "port_variable"), [("payments", "DANBAO_PAYMENTS_HTTP_PORT"),
                                                     ("psp-simulator", "DANBAO_SIM_PSP_HTTP_PORT"),
                                                     ("web", "DANBAO_WEB_HTTP_PORT")])
def test_liveness_answers_while_the_broker_is_awaited_and_readiness_says_why_not(
        name: str, port_variable: str, tmp_path: Path) -> None:
    process, port, log = _serve(name, port_variable, tmp_path, wait_seconds=120)
    try:
        deadline = time.monotonic() + 30
        status, live = _get(f"http://127.0.0.1:{port}/health/live")
        while status is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
            status, live = _get(f"http://127.0.0.1:{port}/health/live")
        assert status == 200, log.read_text()
        assert live == {"status": "live", "service": name, "pid": process.pid}
        assert "cannot reach the broker yet" in log.read_text()  # it is still waiting

        status, body = _get(f"http://127.0.0.1:{port}/health/ready")
        assert status == 503
        assert body["status"] == "not ready" and body["pid"] == process.pid
        assert "broker unreachable" in body["reasons"] and "starting: waiting for the broker" in body["reasons"]

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:  # noqa: S310
            assert f'danbao_consumer_failed_batches_total{{group="danbao-{name}"}} 0.0' in response.read().decode()

        os.kill(process.pid, signal.SIGTERM)  # stops while still waiting, promptly
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def test_a_service_whose_broker_never_answers_exits_with_status_3(tmp_path: Path) -> None:
    process, _, log = _serve("escrow", "DANBAO_ESCROW_HTTP_PORT", tmp_path, wait_seconds=1)
    try:
        assert process.wait(timeout=60) == 3
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    assert "escrow could not start: KafkaConnectionError" in log.read_text()


async def test_a_failing_batch_is_counted_and_a_stuck_consumer_makes_readiness_503(data_dir: Path) -> None:
    """The real subscriber on FastStream's test broker; the database becomes unreachable, so every batch
    fails and is retried. Once the consumer has lag and no batch got through for DANBAO_STALL_SECONDS,
    /health/ready answers 503 and says why."""
    from aiokafka import TopicPartition

    from services.payments.app import build

    runtime = build()
    now = [0.0]
    runtime.consumer_health.clock = lambda: now[0]
    async with serving(runtime) as (_, broker):
        runtime.consumer.retry_pause = 0.01
        runtime.consumer.db = Database(f"sqlite:///{data_dir / 'gone' / 'payments.db'}")  # a folder that does not exist
        runtime.phase = "running"
        runtime._tasks = [asyncio.create_task(asyncio.sleep(60))]  # relay and timers "running"
        runtime.consumer_health.started()
        for attempt in range(2):
            with pytest.raises(Exception, match="unable to open database file"):
                await broker.publish(encode(create_order(f"O-STUCK-{attempt}")), topics.commands("payments"), key=b"O-STUCK")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.asgi()), base_url="http://payments") as client:
            scraped = await client.get("/metrics")
            assert 'danbao_consumer_failed_batches_total{group="danbao-payments"} 2.0' in scraped.text

            runtime.consumer_health.set_lag({TopicPartition(topics.commands("payments"), 0): 2})  # what the lag watch measures
            now[0] += runtime.platform.stall_seconds - 1
            assert (await client.get("/health/ready")).json()["reasons"] == []

            now[0] += 2
            answer = await client.get("/health/ready")
            assert answer.status_code == 503
            (reason,) = answer.json()["reasons"]
            assert reason.startswith("consumer danbao-payments is stuck: 2 records behind and no batch handled for")
            assert "2 failed batches in a row, the last: OperationalError" in reason
            ok, _ = await readiness(runtime)
            assert not ok
        runtime._tasks[0].cancel()
