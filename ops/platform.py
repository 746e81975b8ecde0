"""Runs the whole platform locally: the broker, the five services and the simulators, each a process."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ops.broker import TansuBroker, create_topics, free_ports, wait_for_port
from shared import topics

SERVICES = ("onboarding", "payments", "escrow", "disputes", "notifications")
SIMULATORS = ("psp-simulator", "bank-simulator", "registry-simulator", "messaging-simulator", "insurer-simulator")
EDGES = topics.EDGES  # the web edge: cashier and console (`danbao dev` runs it; tests that need it ask for it)
# Tansu does not wake a waiting fetch when records arrive: it looks again after half the wait left,
# then half of what is left, and so on, so a record can wait up to half the wait; and every look
# costs CPU on both sides. The processes on a payment's path wait briefly, the others longer.
FETCH_WAIT_MS = {"payments": 20, "escrow": 20, "psp-simulator": 20}
OTHER_FETCH_WAIT_MS = 250
# Tansu's work per fetch grows with the partitions fetched. `danbao dev` runs one process per
# service, which one partition per topic serves fully; the tests keep several (the default) so
# that messages of different keys interleave as they do in production.
DEV_PARTITIONS = 1
DEFAULT_PORTS = {"onboarding": 8101, "payments": 8102, "escrow": 8103, "disputes": 8104, "notifications": 8105,
                 "psp-simulator": 8110, "bank-simulator": 8111, "registry-simulator": 8112, "messaging-simulator": 8113,
                 "insurer-simulator": 8114, "web": 8120}
DEFAULT_SMTP_PORT = 8025


def port_env(name: str) -> str:
    return {"psp-simulator": "DANBAO_SIM_PSP_HTTP_PORT", "bank-simulator": "DANBAO_SIM_BANK_HTTP_PORT",
            "registry-simulator": "DANBAO_SIM_REGISTRY_HTTP_PORT", "messaging-simulator": "DANBAO_SIM_MESSAGING_HTTP_PORT",
            "insurer-simulator": "DANBAO_SIM_INSURER_HTTP_PORT"}.get(
        name, f"DANBAO_{name.upper()}_HTTP_PORT")


class PortsInUse(RuntimeError):
    """Ports the platform would listen on that something else holds already: nothing was started."""

    def __init__(self, taken: list[tuple[str, int]]) -> None:
        self.taken = taken
        ports = ", ".join(f"{port} ({what})" for what, port in taken)
        super().__init__(f"port{'s' if len(taken) > 1 else ''} already in use: {ports}; another `danbao dev` may be "
                         "running (stop it, or start this one with --no-fixed-ports)")


def ports_in_use(ports: dict[str, int], host: str = "127.0.0.1") -> list[tuple[str, int]]:
    """Which of ``ports`` (what it is for → port) cannot be bound on ``host``: something listens there already.
    Bound as the listeners bind them (SO_REUSEADDR), so a port whose last connections linger is free."""
    taken = []
    for what, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                taken.append((what, port))
    return taken


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health/ready"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalPlatform:
    """The broker and every process, started and stopped by this object only (by process id)."""

    data_dir: Path
    names: tuple[str, ...] = SERVICES + SIMULATORS
    fixed_ports: bool = False
    broker_port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    partitions: int = topics.PARTITIONS
    broker: TansuBroker | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    smtp_port: int = 0
    # Clients reach the broker through ops.proxy, which `cut_connections` makes drop them all (chaos runs).
    cuttable: bool = False
    proxy: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        assert self.broker is not None
        env = {**os.environ, "DANBAO_KAFKA_BOOTSTRAP": self.broker.bootstrap, "DANBAO_DATA_DIR": str(self.data_dir),
               "PYTHONUNBUFFERED": "1", **self._messaging_env(), **self.extra_env}
        for p in self.processes.values():
            env[port_env(p.name)] = str(p.port)
        if "web" in self.processes:  # a collection code's URL opens this edge's cashier
            env.setdefault("DANBAO_PAYMENTS_PAY_BASE_URL", f"{self.web_url}/c")
        return env

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.processes['web'].port}"

    def _messaging_env(self) -> dict[str, str]:
        """Notifications sends SMS, push and e-mail to the messaging simulator (tests may point elsewhere)."""
        messaging = self.processes.get("messaging-simulator")
        if messaging is None:
            return {}
        base = f"http://127.0.0.1:{messaging.port}"
        return {"DANBAO_SIM_MESSAGING_SMTP_PORT": str(self.smtp_port), "DANBAO_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
                "DANBAO_NOTIFICATIONS_SMTP_PORT": str(self.smtp_port),
                "DANBAO_NOTIFICATIONS_SMS_URL": f"{base}/sms", "DANBAO_NOTIFICATIONS_PUSH_URL": f"{base}/push",
                "DANBAO_WEB_SMS_URL": f"{base}/sms"}

    @property
    def messaging_url(self) -> str:
        return f"http://127.0.0.1:{self.processes['messaging-simulator'].port}"

    def start(self, ready_timeout: float = 60.0) -> None:
        """Start the broker and every process and wait until all are ready; on any failure,
        stop whatever was started before raising."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        # Every port at once, so no two of them are the same; all checked before anything starts.
        ports = free_ports(len(self.names) + 3)
        self.smtp_port = DEFAULT_SMTP_PORT if self.fixed_ports else ports.pop()
        if not self.broker_port:
            self.broker_port = ports.pop()
        proxy_port = ports.pop()
        for name in self.names:
            port = DEFAULT_PORTS[name] if self.fixed_ports else ports.pop()
            self.processes[name] = ServiceProcess(name, port, self.data_dir / "logs" / f"{name}.log")
        wanted = {"broker": self.broker_port, **{f"{p.name} health": p.port for p in self.processes.values()}}
        if "messaging-simulator" in self.names:
            wanted["messaging-simulator SMTP"] = self.smtp_port
        if self.cuttable:
            wanted["broker proxy"] = proxy_port
        taken = ports_in_use(wanted)
        if taken:
            raise PortsInUse(taken)
        try:
            advertised = self._start_proxy(proxy_port) if self.cuttable else None
            self.broker = TansuBroker(port=self.broker_port, log_path=self.data_dir / "logs" / "broker.log",
                                      advertised_port=advertised)
            self.broker.start()
            asyncio.run(create_topics(self.broker.bootstrap, partitions=self.partitions))
            for name in self.names:
                self.start_service(name)
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _start_proxy(self, port: int) -> int:
        """The cuttable proxy on ``port`` in front of the broker's port; returns ``port``."""
        log = open(self.data_dir / "logs" / "proxy.log", "ab")  # noqa: SIM115 - the child owns it
        self.proxy = subprocess.Popen([sys.executable, "-m", "ops.proxy", "--listen", f"127.0.0.1:{port}",
                                       "--target", f"127.0.0.1:{self.broker_port}"],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port("127.0.0.1", port, 20)
        return port

    def cut_connections(self) -> None:
        """Every client loses its broker connection and cannot reconnect for a moment."""
        assert self.proxy is not None, "start the platform with cuttable=True"
        os.kill(self.proxy.pid, signal.SIGUSR1)

    def start_service(self, name: str) -> None:
        proc = self.processes[name]
        out = open(proc.log_path, "ab")  # noqa: SIM115 - the child owns it
        proc.process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "serve", name],
            env={"DANBAO_FETCH_MAX_WAIT_MS": str(FETCH_WAIT_MS.get(name, OTHER_FETCH_WAIT_MS)),
                 **self.env()},
            stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_service(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes[name]
        if proc.running():
            assert proc.process is not None
            os.kill(proc.process.pid, sig)
            proc.process.wait(timeout=15)

    def restart_service(self, name: str, ready_timeout: float = 60.0) -> None:
        self.kill_service(name, signal.SIGTERM)
        self.start_service(name)
        self.wait_ready(ready_timeout, [name])

    def wait_ready(self, timeout: float, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(names or self.processes)
        while waiting:
            for name in list(waiting):
                proc = self.processes[name]
                if not proc.running():
                    raise RuntimeError(f"{name} exited; see {proc.log_path}\n{log_tail(proc.log_path)}")
                if ready(proc.health_url, proc.process.pid if proc.process else None):
                    waiting.discard(name)
            if waiting and time.monotonic() > deadline:
                logs = "\n".join(f"--- {name}: {self.processes[name].log_path}\n{log_tail(self.processes[name].log_path)}" for name in sorted(waiting))
                raise TimeoutError(f"not ready after {timeout}s: {sorted(waiting)}\n{logs}")
            time.sleep(0.2)

    def stop(self) -> None:
        stop_processes([p.process for p in self.processes.values() if p.process is not None])
        if self.broker:
            self.broker.stop()
        if self.proxy is not None:
            stop_processes([self.proxy])


def stop_processes(processes: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """SIGTERM to each of these (our own children, by process id), then SIGKILL to any still there after ``grace``."""
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def log_tail(path: Path, lines: int = 20) -> str:
    """The end of a log, for an error message that explains itself."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ready(url: str, pid: int | None = None) -> bool:
    """The health URL answers 200, and (given ``pid``) it is that process answering: a port another
    instance holds is never taken for ours."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback health URL
            if response.status != 200:
                return False
            if pid is None:
                return True
            body = json.loads(response.read())
            return isinstance(body, dict) and body.get("pid") == pid
    except (OSError, ValueError, http.client.HTTPException):  # not up yet, or something else answers on the port
        return False
