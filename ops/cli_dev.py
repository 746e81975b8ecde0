"""``danbao dev``: the whole platform on one machine, until Ctrl-C; what it prints."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ops.cli_common import console
from ops.platform import LocalPlatform, PortsInUse


def started_lines(platform: LocalPlatform, seconds: float, out: Console) -> None:
    """What is up and where: a table on a terminal; elsewhere (a file, a pipe) one line per process with its
    whole health URL, which a table squeezed into 80 columns would cut."""
    assert platform.broker is not None
    rows = [("broker (Tansu)", platform.broker.bootstrap, str(platform.data_dir / "logs" / "broker.log"))]
    rows += [(proc.name, proc.health_url, str(proc.log_path)) for proc in platform.processes.values()]
    title = f"Danbao is up in {seconds:.1f}s"
    if out.is_terminal:
        table = Table(title=title)
        table.add_column("process", no_wrap=True)
        table.add_column("health", no_wrap=True, min_width=max(len(url) for _, url, _ in rows))
        table.add_column("log", overflow="fold")
        for row in rows:
            table.add_row(*row)
        out.print(table)
    else:
        out.print(title, soft_wrap=True)
        for name, url, log in rows:
            out.print(f"{name}  {url}  {log}", soft_wrap=True, highlight=False, markup=False)
    out.print(f"export DANBAO_KAFKA_BOOTSTRAP={platform.broker.bootstrap}   # for danbao send / tail", soft_wrap=True)
    if "web" in platform.processes:
        out.print(f"cashier (收银台): {platform.web_url}/c/<code token>  (a collection code's url; your orders: "
                  f"{platform.web_url}/orders)", soft_wrap=True, highlight=False, markup=False)
        out.print(f"console (运营台): {platform.web_url}/console  (development staff OP-1, RV-1, ARB-1)",
                  soft_wrap=True, highlight=False, markup=False)
    out.print("A process that exits is started again. The broker keeps its messages in memory only: if it exits, "
              f"everything stops; start over with a fresh {platform.data_dir}.", soft_wrap=True)
    out.print("Press Ctrl-C to stop.")


def look_after(platform: LocalPlatform, out: Console) -> None:
    """One look at every process: one that exited is started again. The broker cannot be: it kept every
    message in memory only, so without it the platform's history is gone and `danbao dev` stops (exit 1)."""
    if platform.broker is not None and not platform.broker.running():
        out.print(f"[red]the broker (Tansu, memory only) exited and its messages with it; stopping everything. Start over: "
                  f"remove {platform.data_dir} and run danbao dev again (log: {platform.data_dir / 'logs' / 'broker.log'}).[/red]")
        raise typer.Exit(1)
    for proc in platform.processes.values():
        if not proc.running():
            out.print(f"[red]{proc.name} exited; restarting (log: {proc.log_path})[/red]")
            platform.start_service(proc.name)


def run(data_dir: Path, broker_port: int | None, fixed_ports: bool, partitions: int, names: tuple[str, ...]) -> None:
    platform = LocalPlatform(data_dir=data_dir, broker_port=broker_port, fixed_ports=fixed_ports, partitions=partitions,
                             names=names)
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        started = time.monotonic()
        try:
            platform.start()
        except PortsInUse as exc:
            console.print(f"danbao dev: {exc}", soft_wrap=True, highlight=False, markup=False)
            raise typer.Exit(2) from None
        started_lines(platform, time.monotonic() - started, console)
        while not stopping:
            look_after(platform, console)
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        platform.stop()
