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
