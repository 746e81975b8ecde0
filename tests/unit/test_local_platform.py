"""The local platform's ports: distinct, and a foreign listener is never taken for a ready service."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from ops.broker import free_ports
from ops.platform import ready


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(40)
    assert len(set(ports)) == 40
    sockets = [socket.socket() for _ in ports]
    try:
        for s, port in zip(sockets, ports, strict=True):
            s.bind(("127.0.0.1", port))  # each one is still free once chosen
    finally:
        for s in sockets:
            s.close()


def test_a_port_answered_by_something_else_is_not_ready() -> None:
    """An SMTP greeting where a health endpoint was expected: not ready, no exception (last CI's failure)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def greet() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"220 somewhere Python SMTP 1.4.6\r\n")
            conn.recv(1024)

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    try:
        assert ready(f"http://127.0.0.1:{port}/health/ready") is False
    finally:
        thread.join(timeout=5)
        server.close()


def test_listener_ports_are_drawn_below_the_ephemeral_range(tmp_path) -> None:
    """Outgoing connections take ports from the ephemeral range; a listener's port chosen there could be
    taken by one before the listener binds it."""
    from ops.broker import LISTEN_PORTS_FROM, _ephemeral_low

    low = _ephemeral_low()
    if low <= LISTEN_PORTS_FROM:  # not Linux, or an unusual range: the kernel's choice stands
        assert all(port > 0 for port in free_ports(5))
        return
    assert all(LISTEN_PORTS_FROM <= port < low for port in free_ports(20))
    (tmp_path / "range").write_text("32768\t60999\n")
    assert _ephemeral_low(tmp_path / "range") == 32768
    (tmp_path / "range").write_text("")
    assert _ephemeral_low(tmp_path / "range") == 0


class _Health(threading.Thread):
    """A health endpoint answering 200 for process ``pid``: another instance, as far as we are concerned."""

    def __init__(self, pid: int) -> None:
        import http.server
        import json

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                body = json.dumps({"status": "ready", "pid": pid}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(daemon=True)
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health/ready"

    def run(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_health_answered_by_another_process_is_not_ours() -> None:
    other = _Health(pid=424242)
    other.start()
    try:
        assert ready(other.url) is True  # something is ready there…
        assert ready(other.url, pid=424242) is True
        assert ready(other.url, pid=os.getpid()) is False  # …but not the process we started
    finally:
        other.stop()


def _taken_platform(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A platform whose fixed ports are free ones, one of them held by a listener; starting anything fails the test."""
    from ops import platform as local

    names = local.SERVICES + local.SIMULATORS + local.EDGES
    ports = free_ports(len(names) + 1)
    monkeypatch.setattr(local, "DEFAULT_PORTS", dict(zip(names, ports, strict=False)))
    monkeypatch.setattr(local, "DEFAULT_SMTP_PORT", ports[-1])

    def no_broker(self):  # type: ignore[no-untyped-def]
        raise AssertionError("nothing may start while a port is taken")

    monkeypatch.setattr(local.TansuBroker, "start", no_broker)
    holder = socket.socket()
    holder.bind(("127.0.0.1", local.DEFAULT_PORTS["escrow"]))
    holder.listen()
    return holder, local.DEFAULT_PORTS["escrow"]


def test_a_fixed_port_already_taken_stops_the_platform_before_anything_starts(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ops.platform import LocalPlatform, PortsInUse, ports_in_use

    holder, port = _taken_platform(tmp_path, monkeypatch)
    try:
        assert ports_in_use({"escrow health": port, "free": free_ports(1)[0]}) == [("escrow health", port)]
        platform = LocalPlatform(data_dir=tmp_path, fixed_ports=True)
        with pytest.raises(PortsInUse, match=f"port already in use: {port} \\(escrow health\\)"):
            platform.start()
        assert all(p.process is None for p in platform.processes.values())
    finally:
        holder.close()


def test_danbao_dev_names_the_taken_port_in_one_line_and_exits_2(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from ops.cli import app

    holder, port = _taken_platform(tmp_path, monkeypatch)
    try:
        result = CliRunner().invoke(app, ["dev", "--data-dir", str(tmp_path)])
    finally:
        holder.close()
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip() and line != "stopping…"]
    assert lines == [f"danbao dev: port already in use: {port} (escrow health); another `danbao dev` may be running "
                     "(stop it, or start this one with --no-fixed-ports)"]
    assert "Traceback" not in result.output


def test_danbao_dev_prints_whole_health_urls_when_its_output_is_not_a_terminal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io

    from rich.console import Console

    from ops.broker import TansuBroker
    from ops.cli_dev import started_lines
    from ops.platform import DEFAULT_PORTS, LocalPlatform, ServiceProcess

    platform = LocalPlatform(data_dir=tmp_path / "a-rather-long-folder-name-for-the-data" / ".danbao")
    platform.broker = TansuBroker(port=47123)
    for name, port in DEFAULT_PORTS.items():
        platform.processes[name] = ServiceProcess(name, port, platform.data_dir / "logs" / f"{name}.log")
    out = io.StringIO()
    started_lines(platform, 0.8, Console(file=out, width=60))  # a file: not a terminal
    text = out.getvalue()
    for name, port in DEFAULT_PORTS.items():
        assert f"{name}  http://127.0.0.1:{port}/health/ready  {platform.data_dir}/logs/{name}.log" in text.splitlines()
    assert "export DANBAO_KAFKA_BOOTSTRAP=127.0.0.1:47123" in text
    assert "…" not in text


def test_danbao_dev_restarts_a_process_that_exits_but_stops_when_the_broker_is_gone(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io
    import subprocess
    import sys

    import typer
    from rich.console import Console

    from ops.broker import TansuBroker
    from ops.cli_dev import look_after
    from ops.platform import LocalPlatform, ServiceProcess

    def finished() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-c", "pass"])
        process.wait()
        return process

    platform = LocalPlatform(data_dir=tmp_path)
    platform.broker = TansuBroker(port=47124)
    platform.broker.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    platform.processes["escrow"] = ServiceProcess("escrow", 8103, tmp_path / "escrow.log", finished())
    started: list[str] = []
    monkeypatch.setattr(platform, "start_service", started.append)
    out = io.StringIO()
    try:
        look_after(platform, Console(file=out, width=200))
        assert started == ["escrow"] and "escrow exited; restarting" in out.getvalue()

        platform.broker.process.kill()
        platform.broker.process.wait()
        with pytest.raises(typer.Exit) as stopped:
            look_after(platform, Console(file=out, width=300))
        assert stopped.value.exit_code == 1
        assert "the broker (Tansu, memory only) exited and its messages with it" in out.getvalue()
    finally:
        if platform.broker.process.poll() is None:
            platform.broker.process.kill()
