"""The ``danbao`` command: run the platform locally, run one service, send and tail messages."""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ops import cli_calendar, cli_collection, cli_data, cli_db, cli_reports, identity, kafka
from ops.cli_common import bootstrap, console, yuan
from ops.cli_errors import DanbaoTyper, read_json
from ops.progress import Board
from ops.platform import DEV_PARTITIONS
from shared import topics
from shared.contracts import CONTRACTS

app = DanbaoTyper(help="Danbao, a guaranteed-trade (escrow) payment platform.", no_args_is_help=True)

COMMAND_TOPICS = {*(topics.commands(s) for s in topics.SERVICES), topics.CONTROL_COMMANDS}
KEY_FIELDS = ("code_id", "order_id", "merchant_id", "case_id", "hold_id", "application_id", "party_id")


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where the services keep their SQLite files and logs.")] = Path(".danbao"),
    broker_port: Annotated[int, typer.Option(help="Broker port; 0 picks a free one.")] = 0,
    fixed_ports: Annotated[bool, typer.Option(help="Serve health on 8101-8110 instead of free ports.")] = True,
    partitions: Annotated[int, typer.Option(help="Partitions per topic (one process per service needs one).")] = DEV_PARTITIONS,
) -> None:
    """Start a Tansu broker, the five services and the simulators; Ctrl-C stops everything started here.
    A process that exits is started again; if the broker (memory only) exits, everything stops: start over."""
    from ops.cli_dev import run

    from ops.platform import EDGES, SERVICES, SIMULATORS

    run(data_dir, broker_port or None, fixed_ports, partitions, names=SERVICES + SIMULATORS + EDGES)


@app.command()
def serve(service: Annotated[str, typer.Argument(
        envvar="DANBAO_SERVICE", help="onboarding, payments, escrow, disputes, notifications, web, psp-, bank-, registry-, messaging- or insurer-simulator")]) -> None:
    """Run one service in the foreground (health on DANBAO_HTTP_PORT or DANBAO_<SERVICE>_HTTP_PORT)."""
    if service == "web":
        importlib.import_module("services.web.app").build().run()
        return
    simulators = {"psp-simulator": "psp", "bank-simulator": "bank", "registry-simulator": "registry", "messaging-simulator": "messaging",
                  "insurer-simulator": "insurer"}
    if service in simulators:
        importlib.import_module(f"services.simulators.{simulators[service]}").run()
        return
    from ops.docs import SERVICE_APPS

    if service not in SERVICE_APPS:
        raise typer.BadParameter(f"unknown service {service!r}")
    importlib.import_module(SERVICE_APPS[service]).build().run()


@app.command()
def send(
    topic: Annotated[str, typer.Argument(help="Topic, e.g. danbao.payments.commands")],
    file: Annotated[str, typer.Argument(help="JSON envelope file, or - for standard input")],
    key: Annotated[str | None, typer.Option(help="Kafka key; default: the aggregate id in data")] = None,
    check: Annotated[bool, typer.Option(help="Validate against the topic's contract before sending.")] = True,
    seal: Annotated[bool, typer.Option(help="Seal plaintext personal fields to the receiving service's public keys first.")] = True,
    keys: Annotated[str | None, typer.Option(help="The service's public JWK set to seal with: a file or a URL "
                                                  "(default: from its settings, the development keys in dev mode).")] = None,
    sign: Annotated[bool, typer.Option(help="Give a command without a token one for its actor (development issuers, "
                                            "or the key in DANBAO_SIGNING_KEY_FILE).")] = True,
) -> None:
    """Publish one envelope (JSON) to a topic. A person's command is made ready as its edge would: personal
    fields given in plaintext are sealed (see `danbao seal`), then it is signed for its actor."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    document = read_json("standard input" if file == "-" else file, text)
    if seal and isinstance(document, dict):
        from ops.pii import seal_document

        document = seal_document(document, keys)
    if sign and isinstance(document, dict) and "token" not in document and topic in COMMAND_TOPICS:
        document = identity.sign(document)
    if check and topic in CONTRACTS:
        CONTRACTS[topic].parse(document)
    if key is None and isinstance(document.get("data"), dict):
        key = next((document["data"][f] for f in KEY_FIELDS if f in document["data"]), None)

    partition, offset = asyncio.run(kafka.publish(bootstrap(), topic, json.dumps(document).encode(), key))
    console.print(f"sent to {topic} partition {partition} offset {offset} key {key}")


@app.command()
def tail(
    topic: Annotated[str, typer.Argument(help="Topic to print, e.g. danbao.escrow.events")],
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest message.")] = True,
    count: Annotated[int, typer.Option(help="Stop after this many messages (0: never).")] = 0,
    timeout: Annotated[float, typer.Option(help="Stop after this many idle seconds (0: never).")] = 0,
) -> None:
    """Print a topic's messages as JSON lines: partition, offset, key, then the envelope."""

    async def _tail() -> None:
        seen = 0
        async for record in kafka.read(bootstrap(), topic, from_beginning=from_beginning, idle_timeout=timeout):
            try:
                value: Any = json.loads(record.value)
            except (TypeError, ValueError):
                value = (record.value or b"").decode("utf-8", "replace")
            line = {"partition": record.partition, "offset": record.offset,
                    "key": record.key.decode() if record.key else None, "message": value}
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            seen += 1
            if count and seen >= count:
                return

    asyncio.run(_tail())


docs = typer.Typer(help="Generated documentation.", no_args_is_help=True)
app.add_typer(docs, name="docs")


@docs.command("asyncapi")
def docs_asyncapi(out: Annotated[Path, typer.Option(help="Folder for <service>.json")] = Path("docs/asyncapi")) -> None:
    """Write each service's AsyncAPI document (generated by FastStream) into docs/asyncapi/."""
    from ops.docs import write_asyncapi

    for path in write_asyncapi(out):
        console.print(f"wrote {path}")


@docs.command("readme")
def docs_readme(path: Annotated[Path, typer.Option(help="The README to update")] = Path("README.md")) -> None:
    """Rewrite the README's table of topics and message types from the contracts."""
    from ops.docs import update_readme

    update_readme(path)
    console.print(f"updated {path}")


@app.command("acl")
def acl_command(
    format: Annotated[str, typer.Option("--format", help="table (Markdown), kafka-acls (the script creating SCRAM users and ACLs) or k8s (its Job)")] = "table",
    runbook: Annotated[Path | None, typer.Option(help="Rewrite this runbook's generated ACL table instead of printing")] = None,
) -> None:
    """Who may read and write which topic, generated from the services' and simulators' declarations."""
    from ops import acl

    if runbook is not None:
        acl.update_runbook(runbook)
        console.print(f"updated {runbook}")
        return
    renderers = {"table": acl.table, "kafka-acls": acl.kafka_acls, "k8s": acl.k8s_job}
    if format not in renderers:
        raise typer.BadParameter(f"--format is one of {', '.join(renderers)}")
    sys.stdout.write(renderers[format]())


@app.command("topics")
def create_topics_command(
    partitions: Annotated[int, typer.Option(help="Partitions per topic; bounds each service's consumer count.")] = 4,
) -> None:
    """Create every platform topic on the broker (idempotent), with DANBAO_KAFKA_REPLICATION_FACTOR replicas and
    DANBAO_KAFKA_MIN_INSYNC_REPLICAS: the deploy's topic job runs this."""
    from ops.broker import create_topics

    asyncio.run(create_topics(bootstrap(), partitions=partitions))
    console.print(f"{len(topics.all_topics())} topics present with at least {partitions} partitions")


@app.command("bench")
def bench_command(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles at full speed.")] = 3000,
    rate: Annotated[float, typer.Option(help="Lifecycles/s of the latency runs (on the fresh platform, after full speed).")] = 100,
    seconds: Annotated[float, typer.Option(help="Length of each latency run.")] = 20,
    partitions: Annotated[int, typer.Option(help="Partitions per topic, as `danbao dev` creates them.")] = DEV_PARTITIONS,
    ceiling: Annotated[bool, typer.Option(help="Also run the lifecycles through stand-ins that do no domain work.")] = True,
    postgres: Annotated[str | None, typer.Option(help="A PostgreSQL server URL (postgresql://user@host:5432/db): the "
                                                      "services keep their data in fresh databases there, dropped after.")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Whole runs, each on a fresh platform; then the spread (min, median, "
                                                  "max) of the headline figures.")] = 1,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this file as JSON: "
                                                                  '{"runs": [...], "spread": {...}}.')] = None,
) -> None:
    """Drive guaranteed-trade lifecycles through a fresh local platform and print the figures."""
    from ops.bench import main

    # SIGTERM stops a run as Ctrl-C does: the platform it started (and the stand-ins, and any PostgreSQL databases it
    # made) are stopped on the way out, where the default action would leave them running without their parent.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main(count=lifecycles, rate=rate, rate_seconds=seconds, partitions=partitions, with_ceiling=ceiling, postgres=postgres,
         runs=runs, json_path=json_file)


@app.command("audit")
def audit_command() -> None:
    """Check the platform as a whole from every service's events (orders, holds, ledger, refunds,
    compensations, notifications); print the report and exit 1 on any breach. Run it when the platform is quiet."""
    from ops.audit import audit, render

    result = asyncio.run(audit(bootstrap()))
    for part in render(result):
        Console().print(part)
    if not result.ok:
        raise typer.Exit(1)


@app.command("chaos")
def chaos_command(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles, of six kinds mixed at random.")] = 500,
    rate: Annotated[float, typer.Option(help="Lifecycles started per second.")] = 5.0,
    kill_every: Annotated[float, typer.Option(help="Seconds between SIGKILLs of a random service.")] = 3.0,
    cut_every: Annotated[float, typer.Option(help="Seconds between cuts of every client's broker connection.")] = 11.0,
    max_kills: Annotated[int, typer.Option(help="Stop killing after this many (0: kill until the lifecycles are done).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the mix and of the victims.")] = 1,
) -> None:
    """Mixed lifecycles on a fresh platform while services are killed and connections cut; then the audit.
    Exit 1 if a lifecycle did not finish or the audit found a breach."""
    from ops.chaos import main

    if not main(lifecycles, rate, kill_every, cut_every, max_kills or None, seed).ok:
        raise typer.Exit(1)


@app.command("burst")
def burst_command(
    commands: Annotated[int, typer.Option(help="Commands published at once.")] = 20_000,
    timeout: Annotated[float, typer.Option(help="Give up draining after this many seconds.")] = 600,
) -> None:
    """Back-pressure: a burst of commands on a fresh platform, absorbed and drained; lag and memory printed.
    Exit 1 on an error or memory growth beyond the documented bound."""
    from ops.burst import main

    if not main(commands=commands, timeout=timeout).ok:
        raise typer.Exit(1)


for group, name in ((cli_reports.ledger, "ledger"), (cli_reports.report, "report"), (cli_reports.notifications_cli, "notifications"), (cli_data.pii, "pii"),
                    (cli_data.seal, "seal"), (cli_data.dlq, "dlq"), (cli_data.issuers, "issuers"),
                    (cli_calendar.calendar, "calendar"), (cli_db.db, "db")):
    app.add_typer(group, name=name)
cli_collection.register(app)

demo = typer.Typer(help="Replays of the domain's seed cases (disputes, collection) through a running platform.", no_args_is_help=True)
app.add_typer(demo, name="demo")


def _replay(scenario: list[str] | None, known: dict[str, Any], outcomes: Any, heading: str, clock: str) -> None:
    """Check the scenario names, run them, print each outcome's timeline, balances and facts."""
    unknown = [name for name in scenario or [] if name not in known]
    if unknown:
        raise typer.BadParameter(f"unknown scenario {unknown[0]!r}; choose from {', '.join(known)}")
    with Board(console) as board:
        done = asyncio.run(outcomes(bootstrap(), scenario or None, step=board.step("scenarios", len(scenario or known))))
    for outcome in done:
        table = Table(title=f"{outcome.title}\n{heading} {outcome.case_id}, order {outcome.order_id}", title_justify="left")
        for column in (clock, "event", "what"):
            table.add_column(column, overflow="fold")
        for row in outcome.timeline:
            table.add_row(*row)
        console.print(table)
        if outcome.balances:
            balances = ", ".join(f"{account} {yuan(amount)}" for account, amount in outcome.balances.items())
            console.print(f"[bold]balances[/bold] (yuan; debit > 0, credit < 0): {balances}")
        console.print(f"[bold]facts[/bold]: {outcome.facts}\n")


@demo.command("disputes")
def demo_disputes(
    scenario: Annotated[list[str] | None, typer.Argument(
        help="lost-parcel, holiday-return, price-difference, phone-not-as-described (default: all four)")] = None,
) -> None:
    """Replay the four seed dispute cases through the running platform (dev or test mode: it moves the test clock)
    and print each case's timeline and its accounts' balances."""
    from ops.demo import SCENARIOS, run

    _replay(scenario, SCENARIOS, run, "case", "China time (test clock)")


@demo.command("collection")
def demo_collection(
    scenario: Annotated[list[str] | None, typer.Argument(help="walk-in, shop-qr, risk-review (default: all three)")] = None,
) -> None:
    """Collect money as seed 02 describes it through the running platform: a walk-in customer pays a sale's QR code,
    two customers pay the shop's standing QR code, and a risk review an operator releases."""
    from ops.demo_collection import SCENARIOS, run

    _replay(scenario, SCENARIOS, run, "code or review", "time (UTC)")


if __name__ == "__main__":
    app()
