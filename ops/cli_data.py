"""``danbao pii``, ``danbao seal`` and ``danbao dlq``: personal data at rest, personal fields sealed at the
edge, and dead letters (sealed where their topic carries personal data)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ops import kafka
from ops.cli_common import bootstrap, console
from ops.progress import Board, Step
from shared import topics


pii = typer.Typer(help="Personal data encrypted at rest: values per key, and re-encryption after a key rotation.",
                  no_args_is_help=True)

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

    steps: list[Step] = []

    def counted(before: Any) -> None:
        steps.append(board.step(f"values {'to re-encrypt' if dry_run else 're-encrypted'} under {before.current}",
                                _not_current(before.before, before.current)))

    def progress(report: Any) -> None:
        steps[0].update(report.total, note=f"batch {report.batches}")

    with Board(console) as board:
        run = _pii_run(rotate(service, batch, dry_run, progress, counted))
        if steps:
            steps[0].done()
    Console().print(_key_table(f"{service}: before", run.before, run.current))
    if not dry_run:
        Console().print(_key_table(f"{service}: after", run.after, run.current))
    moved = ", ".join(f"{n} from {k}" for k, n in sorted(run.report.reencrypted.items())) or "none"
    console.print(f"{'would re-encrypt' if dry_run else 're-encrypted'} {run.report.total} values under {run.current} ({moved})")
    for where in run.report.unreadable:
        console.print(f"[red]unreadable with the configured keys: {where}[/red]")
    if run.report.unreadable:
        raise typer.Exit(1)


dlq = typer.Typer(help="Dead letters: list them, and have one handled again after a fix.", no_args_is_help=True)


async def _dead_letters(service: str) -> list[Any]:
    return [r async for r in kafka.read(bootstrap(), topics.dead_letters(service), idle_timeout=1.0)]


@dlq.command("list")
def dlq_list(service: Annotated[str, typer.Argument(help="The service whose dead letters to show.")]) -> None:
    """Show a service's dead letters: its id (for a replay), where it sits, its reason and where it came from."""
    table = Table(title=f"{topics.dead_letters(service)}")
    for column in ("dead letter id", "partition/offset", "reason", "detail", "source"):
        table.add_column(column, overflow="fold")
    for record in asyncio.run(_dead_letters(service)):
        letter = json.loads(record.value)
        data = letter["data"]
        table.add_row(letter["event_id"], f"{record.partition}/{record.offset}", data["reason"], data["detail"][:200],
                      f"{data['source_topic']} {data['source_partition']}/{data['source_offset']} key {data['source_key']}")
    Console().print(table)


@dlq.command("replay")
def dlq_replay(
    service: Annotated[str, typer.Argument(help="The service whose dead letter to replay.")],
    dead_letter_id: Annotated[str, typer.Argument(help="The dead letter's id (see danbao dlq list).")],
    operator: Annotated[str, typer.Option("--as", help="The operator asking (on the roster).")] = "OP-1",
) -> None:
    """Ask the service to handle one of its dead letters again (after a fix): an operator's signed
    `control.deadletter.replay`. The service handles the original it kept, once; a command's own token
    still has to prove its sender. A corrected message is a new command: its sender sends it (`danbao send`)."""
    if service not in topics.SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}")
    value = kafka.command("control.deadletter.replay", {"service": service, "dead_letter_id": dead_letter_id},
                          ("operator", operator), "danbao-cli", f"replay-{dead_letter_id}")
    where = asyncio.run(kafka.publish(bootstrap(), topics.CONTROL_COMMANDS, value, dead_letter_id))
    console.print(f"asked {service} to replay {dead_letter_id} (control partition {where[0]} offset {where[1]}); "
                  f"its answer: control.deadletter.replayed on {topics.CONTROL_EVENTS}")


seal = typer.Typer(help="Personal fields sealed at the edge: seal a command, print a service's public keys, make a key set.",
                   no_args_is_help=True)

KeysOption = Annotated[str | None, typer.Option(
    "--keys", help="The service's public JWK set: a file, or a URL such as http://127.0.0.1:8101/keys/seal. "
                   "Default: from the service's settings (its development keys in dev and test mode).")]


@seal.command("command")
def seal_command_cli(
    service: Annotated[str, typer.Argument(help="The receiving service: onboarding or notifications.")],
    file: Annotated[str, typer.Argument(help="A command envelope (JSON) with plaintext personal fields, or - for standard input")],
    keys: KeysOption = None,
) -> None:
    """Print the command with its personal fields sealed to the service's current public key."""
    from ops.pii import public_seal_keys
    from shared.sealing import seal_command, service_of

    document = json.loads(sys.stdin.read() if file == "-" else Path(file).read_text())
    if service_of(str(document.get("type", ""))) != service:
        raise typer.BadParameter(f"a {document.get('type')!r} command does not go to {service}", param_hint="SERVICE")
    sys.stdout.write(json.dumps(seal_command(document, _keys_of(public_seal_keys, service, keys)), ensure_ascii=False, indent=2) + "\n")


@seal.command("keys")
def seal_keys_cli(
    service: Annotated[str, typer.Argument(help="The receiving service: onboarding or notifications.")],
    keys: KeysOption = None,
) -> None:
    """Print the service's public JWK set (the current key first), as its /keys/seal serves it."""
    from ops.pii import public_seal_keys

    sys.stdout.write(json.dumps(_keys_of(public_seal_keys, service, keys), indent=2) + "\n")


@seal.command("keygen")
def seal_keygen(kid: Annotated[str | None, typer.Option(help="The new key's id; default: today's date and 6 random hex digits.")] = None) -> None:
    """Print a new private key set of one X25519 key (for DANBAO_<SERVICE>_SEAL_PRIVATE_KEYS). To rotate, put the new
    key first in the service's set and keep the old one after it (see docs/runbook.md)."""
    import secrets
    from datetime import date

    from shared.sealing import generate_private_jwk

    sys.stdout.write(json.dumps({"keys": [generate_private_jwk(kid or f"{date.today():%Y-%m-%d}-{secrets.token_hex(3)}")]}))


def _keys_of(resolve: Any, service: str, source: str | None) -> dict[str, Any]:
    try:
        return resolve(service, source)  # type: ignore[no-any-return]
    except LookupError as exc:
        raise typer.BadParameter(str(exc), param_hint="SERVICE") from None


issuers = typer.Typer(help="The edges that sign commands: their keys, and the services' trusted-issuers file.", no_args_is_help=True)


@issuers.command("dev-key")
def issuers_dev_key(issuer: Annotated[str, typer.Argument(help="buyer-app, merchant-gateway, operator-console or admin-console")]) -> None:
    """Print an issuer's development private key (a JWK; dev and test mode only), for a client trying the platform."""
    from shared.assertions import ISSUER_KINDS, development_signer
    from shared.settings import Mode, PlatformSettings

    if PlatformSettings().mode is Mode.PRODUCTION:
        raise typer.BadParameter("production mode has no development keys")
    if issuer not in ISSUER_KINDS:
        raise typer.BadParameter(f"unknown issuer {issuer!r}; choose from {', '.join(ISSUER_KINDS)}")
    sys.stdout.write(json.dumps(development_signer(issuer).key.as_dict(private=True)) + "\n")


@issuers.command("keygen")
def issuers_keygen(folder: Annotated[Path, typer.Argument(help="Where to write the keys (e.g. deploy/secrets)")]) -> None:
    """Write each issuer's private key (kept if present) and the services' trusted-issuers file."""
    from ops.issuers import write

    for path in write(folder):
        console.print(f"wrote {path}")
