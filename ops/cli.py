"""The ``danbao`` command: run the platform locally, run one service, send and tail messages."""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ops import kafka
from ops.platform import DEV_PARTITIONS
from shared import topics
from shared.consumer import open_dead_letter
from shared.contracts import CONTRACTS

app = typer.Typer(help="Danbao, a guaranteed-trade (escrow) payment platform.", no_args_is_help=True)
console = Console(stderr=True)

KEY_FIELDS = ("order_id", "merchant_id", "case_id", "hold_id", "application_id", "party_id")


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where the services keep their SQLite files and logs.")] = Path(".danbao"),
    broker_port: Annotated[int, typer.Option(help="Broker port; 0 picks a free one.")] = 0,
    fixed_ports: Annotated[bool, typer.Option(help="Serve health on 8101-8110 instead of free ports.")] = True,
    partitions: Annotated[int, typer.Option(help="Partitions per topic (one process per service needs one).")] = DEV_PARTITIONS,
) -> None:
    """Start a Tansu broker, the five services and the simulators; Ctrl-C stops everything started here."""
    from ops.platform import LocalPlatform

    platform = LocalPlatform(data_dir=data_dir, broker_port=broker_port or None, fixed_ports=fixed_ports, partitions=partitions)
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        started = time.monotonic()
        platform.start()
        assert platform.broker is not None
        table = Table(title=f"Danbao is up in {time.monotonic() - started:.1f}s")
        table.add_column("process")
        table.add_column("health")
        table.add_column("log")
        table.add_row("broker (Tansu)", platform.broker.bootstrap, str(data_dir / "logs" / "broker.log"))
        for proc in platform.processes.values():
            table.add_row(proc.name, proc.health_url, str(proc.log_path))
        console.print(table)
        console.print(f"export DANBAO_KAFKA_BOOTSTRAP={platform.broker.bootstrap}   # for danbao send / tail")
        console.print("Press Ctrl-C to stop.")
        while not stopping:
            for proc in platform.processes.values():
                if not proc.running():
                    console.print(f"[red]{proc.name} exited; restarting (log: {proc.log_path})[/red]")
                    platform.start_service(proc.name)
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        platform.stop()


@app.command()
def serve(service: Annotated[str, typer.Argument(
        envvar="DANBAO_SERVICE", help="onboarding, payments, escrow, disputes, notifications, psp-, bank-, registry-, messaging- or insurer-simulator")]) -> None:
    """Run one service in the foreground (health on DANBAO_HTTP_PORT or DANBAO_<SERVICE>_HTTP_PORT)."""
    simulators = {"psp-simulator": "psp", "bank-simulator": "bank", "registry-simulator": "registry", "messaging-simulator": "messaging",
                  "insurer-simulator": "insurer"}
    if service in simulators:
        importlib.import_module(f"services.simulators.{simulators[service]}").run()
        return
    from ops.docs import SERVICE_APPS

    if service not in SERVICE_APPS:
        raise typer.BadParameter(f"unknown service {service!r}")
    importlib.import_module(SERVICE_APPS[service]).build().run()


def _bootstrap() -> str:
    from shared.settings import PlatformSettings

    return PlatformSettings().kafka_bootstrap


@app.command()
def send(
    topic: Annotated[str, typer.Argument(help="Topic, e.g. danbao.payments.commands")],
    file: Annotated[str, typer.Argument(help="JSON envelope file, or - for standard input")],
    key: Annotated[str | None, typer.Option(help="Kafka key; default: the aggregate id in data")] = None,
    check: Annotated[bool, typer.Option(help="Validate against the topic's contract before sending.")] = True,
) -> None:
    """Publish one envelope (JSON) to a topic."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    document = json.loads(text)
    if check and topic in CONTRACTS:
        CONTRACTS[topic].parse(document)
    if key is None and isinstance(document.get("data"), dict):
        key = next((document["data"][f] for f in KEY_FIELDS if f in document["data"]), None)

    partition, offset = asyncio.run(kafka.publish(_bootstrap(), topic, json.dumps(document).encode(), key))
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
        async for record in kafka.read(_bootstrap(), topic, from_beginning=from_beginning, idle_timeout=timeout):
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

    asyncio.run(create_topics(_bootstrap(), partitions=partitions))
    console.print(f"{len(topics.all_topics())} topics present with at least {partitions} partitions")


ledger = typer.Typer(help="Escrow's double-entry ledger.", no_args_is_help=True)
app.add_typer(ledger, name="ledger")


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


@ledger.command("balances")
def ledger_balances(csv: Annotated[bool, typer.Option(help="CSV on standard output instead of a table.")] = False) -> None:
    """Every account's balance (debit positive, credit negative); they sum to zero."""
    from ops.ledger import escrow_database, read_balances

    rows = sorted(asyncio.run(read_balances(escrow_database())).items())
    if csv:
        sys.stdout.write("account,currency,balance_fen\n" + "".join(f"{a},{c},{v}\n" for (a, c), v in rows))
        return
    table = Table(title="Ledger balances")
    for column in ("account", "currency", "balance"):
        table.add_column(column, justify="right" if column == "balance" else "left")
    for (account, currency), value in rows:
        table.add_row(account, currency, _yuan(value))
    table.add_row("[bold]sum[/bold]", "", _yuan(sum(v for _, v in rows)))
    Console().print(table)


@ledger.command("trial-balance")
def ledger_trial_balance() -> None:
    """Check debits = credits (overall and per entry), that every hold adds up and that every running
    balance matches its journal; exit 1 if not."""
    from ops.ledger import escrow_database, trial_balance

    result = asyncio.run(trial_balance(escrow_database()))
    table = Table(title=f"Trial balance over {result.entries} entries")
    for column in ("currency", "debits", "credits", "difference"):
        table.add_column(column, justify="right")
    for currency in sorted({*result.debits, *result.credits}):
        d, c = result.debits.get(currency, 0), result.credits.get(currency, 0)
        table.add_row(currency, _yuan(d), _yuan(c), _yuan(d - c))
    Console().print(table)
    for problem in result.problems:
        console.print(f"[red]{problem}[/red]")
    if not result.balanced:
        raise typer.Exit(1)
    console.print("[green]balanced[/green]")


@app.command()
def qr(
    order_id: Annotated[str, typer.Argument(help="The order whose latest QR-code payment to show.")],
    png: Annotated[Path | None, typer.Option(help="Write a PNG here instead of drawing in the terminal.")] = None,
) -> None:
    """Render the QR code of an order's latest QR-code payment intent (from danbao.payments.events)."""
    import segno

    async def latest() -> str | None:
        found = None
        async for record in kafka.read(_bootstrap(), topics.events("payments"), idle_timeout=1.0):
            message = json.loads(record.value)
            data = message.get("data") or {}
            if message.get("type") == "payments.intent.created" and data.get("order_id") == order_id and data.get("qr_payload"):
                found = data["qr_payload"]
        return found

    payload = asyncio.run(latest())
    if payload is None:
        console.print(f"[red]no QR-code payment intent for {order_id}[/red]")
        raise typer.Exit(1)
    code = segno.make(payload, error="m")
    if png:
        code.save(str(png), kind="png", scale=8, border=4)
        console.print(f"wrote {png} ({code.designator}) for {payload}")
    else:
        code.terminal(compact=True)
        console.print(payload)


@app.command("bench")
def bench_command(
    lifecycles: Annotated[int, typer.Option(help="Lifecycles at full speed.")] = 3000,
    rate: Annotated[float, typer.Option(help="Lifecycles/s for the latency run.")] = 100,
    seconds: Annotated[float, typer.Option(help="Length of the latency run.")] = 20,
    partitions: Annotated[int, typer.Option(help="Partitions per topic, as `danbao dev` creates them.")] = DEV_PARTITIONS,
    ceiling: Annotated[bool, typer.Option(help="Also run the lifecycles through stand-ins that do no domain work.")] = True,
) -> None:
    """Drive guaranteed-trade lifecycles through a fresh local platform and print the figures."""
    from ops.bench import main

    main(count=lifecycles, rate=rate, rate_seconds=seconds, partitions=partitions, with_ceiling=ceiling)


@app.command("audit")
def audit_command() -> None:
    """Check the platform as a whole from every service's events (orders, holds, ledger, refunds,
    compensations, notifications); print the report and exit 1 on any breach. Run it when the platform is quiet."""
    from ops.audit import audit, render

    result = asyncio.run(audit(_bootstrap()))
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


report = typer.Typer(help="Reports from the services' own records.", no_args_is_help=True)
app.add_typer(report, name="report")


@report.command("cancellations")
def report_cancellations(csv: Annotated[bool, typer.Option(help="CSV on standard output instead of a table.")] = False) -> None:
    """Cancelled orders by party and reason code, with what was refunded."""
    from ops.stores import service_database
    from services.payments.config import PaymentsSettings
    from services.payments.store import cancellation_counts

    async def read() -> list[tuple[str, str, int, int]]:
        db = service_database("payments", PaymentsSettings())
        try:
            async with db.transaction() as session:
                return await cancellation_counts(session)
        finally:
            await db.dispose()

    rows = asyncio.run(read())
    if csv:
        sys.stdout.write("party,reason,orders,refunded_fen\n" + "".join(f"{p},{r},{n},{f}\n" for p, r, n, f in rows))
        return
    table = Table(title="Cancellations by party and reason")
    for column in ("party", "reason", "orders", "refunded (CNY)"):
        table.add_column(column, justify="right" if column in ("orders", "refunded (CNY)") else "left")
    for party, reason, n, refunded in rows:
        table.add_row(party, reason, str(n), _yuan(refunded))
    table.add_row("[bold]all[/bold]", "", str(sum(r[2] for r in rows)), _yuan(sum(r[3] for r in rows)))
    Console().print(table)


@report.command("merchant")
def report_merchant(
    merchant_id: Annotated[str, typer.Argument(help="The merchant.")],
    day: Annotated[str, typer.Option(help="The day, YYYY-MM-DD, China time (default: today).")] = "",
    csv: Annotated[bool, typer.Option(help="CSV on standard output instead of a table.")] = False,
) -> None:
    """A merchant's receipts, fees, refunds and payouts for one day (收款记录 / 财务报表)."""
    from datetime import date, datetime

    from ops.ledger import escrow_database, merchant_day
    from shared.business_days import CHINA

    when = date.fromisoformat(day) if day else datetime.now(CHINA).date()
    rows = asyncio.run(merchant_day(escrow_database(), merchant_id, when))
    if csv:
        sys.stdout.write("posted_at,kind,reference,order_id,gross_fen,fee_fen,net_fen\n" + "".join(
            f"{r.posted_at.isoformat()},{r.kind},{r.reference},{r.order_id or ''},{r.gross},{r.fee},{r.net}\n" for r in rows))
        return
    table = Table(title=f"{merchant_id} on {when.isoformat()} (China time)")
    for column in ("time", "kind", "order / payout", "gross", "fee", "net to balance"):
        table.add_column(column, justify="right" if column in ("gross", "fee", "net to balance") else "left")
    for r in rows:
        table.add_row(r.posted_at.astimezone(CHINA).strftime("%H:%M:%S"), r.kind, r.order_id or r.reference.split(":", 1)[-1],
                      _yuan(r.gross), _yuan(r.fee), _yuan(r.net))
    table.add_row("[bold]total[/bold]", "", "", _yuan(sum(r.gross for r in rows)), _yuan(sum(r.fee for r in rows)),
                  _yuan(sum(r.net for r in rows)))
    Console().print(table)


notifications_cli = typer.Typer(help="What the platform told buyers and merchants.", no_args_is_help=True)
app.add_typer(notifications_cli, name="notifications")


@notifications_cli.command("log")
def notifications_log(
    recipient: Annotated[str, typer.Option(help="Only this buyer's or merchant's notifications.")] = "",
    state: Annotated[str, typer.Option(help="pending, retrying, sent, failed or skipped.")] = "",
    channel: Annotated[str, typer.Option(help="sms, push, email, webhook (none: skipped).")] = "",
    event: Annotated[str, typer.Option(help="Only those caused by this event id.")] = "",
    limit: Annotated[int, typer.Option(help="Newest first, at most this many.")] = 50,
    attempts: Annotated[bool, typer.Option(help="Also list every delivery attempt.")] = False,
    csv: Annotated[bool, typer.Option(help="CSV on standard output instead of a table.")] = False,
) -> None:
    """What was sent to whom (addresses masked), on which channel, in which language, and its delivery state."""
    from ops.stores import service_database
    from services.notifications.config import NotificationsSettings
    from services.notifications.store import attempts_of, log_rows
    from shared.business_days import CHINA
    from shared.timers import as_utc

    async def read() -> tuple[list[Any], list[Any]]:
        db = service_database("notifications", NotificationsSettings())
        try:
            async with db.transaction() as session:
                rows = await log_rows(session, recipient_id=recipient or None, state=state or None, channel=channel or None,
                                      source_event_id=event or None, limit=limit)
                return rows, await attempts_of(session, [r.notification_id for r in rows]) if attempts else []
        finally:
            await db.dispose()

    rows, tries = asyncio.run(read())
    columns = ("id", "created", "event", "recipient", "to", "channel", "template", "lang", "state", "attempts", "detail")
    lines = [(r.notification_id, as_utc(r.created_at).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"), r.source_type, f"{r.recipient} {r.recipient_id}",
              r.to_masked or "", r.channel, r.template, r.language, r.state, str(r.attempts),
              r.failure_reason or r.last_detail or "") for r in rows]
    if csv:
        sys.stdout.write(",".join(columns) + "\n" + "".join(",".join(f'"{v}"' if "," in v else v for v in line) + "\n" for line in lines))
    else:
        table = Table(title=f"Notifications ({len(rows)} newest first; China time)")
        for column in columns:
            table.add_column(column, overflow="fold")
        for line in lines:
            table.add_row(*line)
        Console().print(table)
    if tries:
        table = Table(title="Delivery attempts")
        for column in ("notification", "attempt", "at (China time)", "outcome", "status", "detail", "ms"):
            table.add_column(column)
        for a in tries:
            table.add_row(a.notification_id, str(a.attempt), as_utc(a.at).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"), a.outcome,
                          str(a.status_code or ""), a.detail, str(a.duration_ms))
        Console(file=sys.stdout if csv else None).print(table)


pii = typer.Typer(help="Personal data encrypted at rest: values per key, and re-encryption after a key rotation.",
                  no_args_is_help=True)
app.add_typer(pii, name="pii")

PiiService = Annotated[str, typer.Option(help="The service whose encrypted columns to use, e.g. onboarding.")]


def _key_table(title: str, counts: dict[str, Any], current: str) -> Table:
    table = Table(title=title)
    for column in ("column", "key id", "values"):
        table.add_column(column, justify="right" if column == "values" else "left")
    for name, by_key in counts.items():
        for key_id in sorted(by_key, key=lambda k: (k != current, k)):
            label = f"{key_id} (current)" if key_id == current else key_id
            table.add_row(name, label, str(by_key[key_id]), style=None if key_id == current or not by_key[key_id] else "yellow")
    return table


def _not_current(counts: dict[str, Any], current: str) -> int:
    return sum(n for by_key in counts.values() for key_id, n in by_key.items() if key_id != current)


def _pii_run(run: Any) -> Any:
    try:
        return asyncio.run(run)
    except LookupError as exc:
        raise typer.BadParameter(str(exc), param_hint="--service") from None


@pii.command("status")
def pii_status(
    service: PiiService,
    check: Annotated[bool, typer.Option(help="Exit 1 while any value is under a key other than the current one.")] = False,
) -> None:
    """Values per encrypted column and key id; the current key encrypts new values."""
    from ops.pii import status

    run = _pii_run(status(service))
    Console().print(_key_table(f"{service}: encrypted values by key", run.before, run.current))
    left = _not_current(run.before, run.current)
    console.print(f"{left} values under keys other than {run.current}" if left else f"every value is under {run.current}")
    if check and left:
        raise typer.Exit(1)


@pii.command("reencrypt")
def pii_reencrypt(
    service: PiiService,
    batch: Annotated[int, typer.Option(min=1, max=5000, help="Rows per batch; each batch is one transaction.")] = 500,
    dry_run: Annotated[bool, typer.Option(help="Read and decrypt, write nothing: what would be re-encrypted.")] = False,
) -> None:
    """Re-encrypt every value still under an older key with the current key, in batches.

    Safe to interrupt (finished batches stay done) and to run again (values under the current key
    are left alone). Exit 1 if some value no configured key can open."""
    from ops.pii import rotate

    def progress(report: Any) -> None:
        console.print(f"batch {report.batches}: {report.total} values {'to re-encrypt' if dry_run else 're-encrypted'} so far")

    run = _pii_run(rotate(service, batch, dry_run, progress))
    Console().print(_key_table(f"{service}: before", run.before, run.current))
    if not dry_run:
        Console().print(_key_table(f"{service}: after", run.after, run.current))
    moved = ", ".join(f"{n} from {k}" for k, n in sorted(run.report.reencrypted.items())) or "none"
    console.print(f"{'would re-encrypt' if dry_run else 're-encrypted'} {run.report.total} values under {run.current} ({moved})")
    for where in run.report.unreadable:
        console.print(f"[red]unreadable with the configured keys: {where}[/red]")
    if run.report.unreadable:
        raise typer.Exit(1)


dlq = typer.Typer(help="Dead letters: list them, and replay a fixed one to where it came from.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")


async def _dead_letters(service: str) -> list[Any]:
    return [r async for r in kafka.read(_bootstrap(), topics.dead_letters(service), idle_timeout=1.0)]


@dlq.command("list")
def dlq_list(service: Annotated[str, typer.Argument(help="The service whose dead letters to show.")]) -> None:
    """Show a service's dead letters: where each sits, its reason and where it came from."""
    table = Table(title=f"{topics.dead_letters(service)}")
    for column in ("partition/offset", "reason", "detail", "source"):
        table.add_column(column, overflow="fold")
    for record in asyncio.run(_dead_letters(service)):
        data = json.loads(record.value)["data"]
        table.add_row(f"{record.partition}/{record.offset}", data["reason"], data["detail"][:200],
                      f"{data['source_topic']} {data['source_partition']}/{data['source_offset']} key {data['source_key']}")
    Console().print(table)


@dlq.command("replay")
def dlq_replay(
    service: Annotated[str, typer.Argument(help="The service whose dead letter to replay.")],
    partition: Annotated[int, typer.Option(help="The dead letter's partition (see danbao dlq list).")],
    offset: Annotated[int, typer.Option(help="The dead letter's offset (see danbao dlq list).")],
    fixed: Annotated[Path | None, typer.Option(help="A corrected message to send instead of the original.")] = None,
) -> None:
    """Send a dead letter (or its corrected version) back to the topic it came from, with its key.

    The service's inbox processes a message id once, so replaying twice acts once."""
    records = asyncio.run(_dead_letters(service))
    record = next((r for r in records if r.partition == partition and r.offset == offset), None)
    if record is None:
        raise typer.BadParameter(f"no dead letter at {partition}/{offset} in {topics.dead_letters(service)}")
    data = json.loads(record.value)["data"]
    if fixed is not None:
        value = fixed.read_bytes()
        json.loads(value)  # a corrected message is at least JSON
    else:
        from ops.pii import service_cipher

        value = open_dead_letter(data, service_cipher(service) if data["original_encoding"] == "sealed" else None)
    where = asyncio.run(kafka.publish(_bootstrap(), data["source_topic"], value, data["source_key"]))
    console.print(f"replayed {partition}/{offset} to {data['source_topic']} partition {where[0]} offset {where[1]}")


demo = typer.Typer(help="Replays of the domain's seed cases through a running platform.", no_args_is_help=True)
app.add_typer(demo, name="demo")


@demo.command("disputes")
def demo_disputes(
    scenario: Annotated[list[str] | None, typer.Argument(
        help="lost-parcel, holiday-return, price-difference, phone-not-as-described (default: all four)")] = None,
) -> None:
    """Replay the four seed dispute cases through the running platform (dev or test mode: it moves the test clock)
    and print each case's timeline and its accounts' balances."""
    from ops.demo import SCENARIOS, run

    unknown = [name for name in scenario or [] if name not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    for outcome in asyncio.run(run(_bootstrap(), scenario or None)):
        table = Table(title=f"{outcome.title}\ncase {outcome.case_id}, order {outcome.order_id}", title_justify="left")
        for column in ("China time (test clock)", "event", "what"):
            table.add_column(column, overflow="fold")
        for row in outcome.timeline:
            table.add_row(*row)
        console.print(table)
        balances = ", ".join(f"{account} {_yuan(amount)}" for account, amount in outcome.balances.items())
        console.print(f"[bold]balances[/bold] (yuan; debit > 0, credit < 0): {balances}")
        console.print(f"[bold]facts[/bold]: {outcome.facts}\n")


if __name__ == "__main__":
    app()
