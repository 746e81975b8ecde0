"""A TCP proxy in front of the broker that can cut every client's connection on demand.

`make chaos` advertises the proxy as the broker's address, so every client (the services, the
simulators, the driver) talks to the broker through it. SIGUSR1 drops every open connection and
refuses new ones for ``--outage`` seconds: the clients see the broker vanish and come back, as on a
network partition or a broker restart, while the broker (which keeps its data in memory) stays up.

    python -m ops.proxy --listen 127.0.0.1:9093 --target 127.0.0.1:9092 --outage 1.5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int, outage: float) -> None:
        self.target = (target_host, target_port)
        self.outage = outage
        self.down_until = 0.0
        self.connections: set[asyncio.StreamWriter] = set()
        self.cuts = 0

    def cut(self) -> None:
        """Close every connection now and refuse new ones for the outage."""
        self.cuts += 1
        self.down_until = time.monotonic() + self.outage
        for writer in list(self.connections):
            writer.transport.abort()
        self.connections.clear()

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self.down_until:
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        pair = {client_writer, server_writer}
        self.connections |= pair
        try:
            await asyncio.gather(self._pump(client_reader, server_writer), self._pump(server_reader, client_writer))
        finally:
            self.connections -= pair
            for writer in pair:
                writer.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def serve(listen: tuple[str, int], target: tuple[str, int], outage: float) -> None:
    proxy = CuttableProxy(*target, outage)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(proxy.handle, *listen)
    async with server:
        await stop.wait()
    print(f"proxy stopped after {proxy.cuts} cuts", flush=True)


def _address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=_address, required=True)
    parser.add_argument("--target", type=_address, required=True)
    parser.add_argument("--outage", type=float, default=1.5, help="Seconds new connections are refused after a cut.")
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.target, args.outage))


if __name__ == "__main__":
    main()
