"""The local platform's ports: distinct, and a foreign listener is never taken for a ready service."""

from __future__ import annotations

import socket
import threading

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
