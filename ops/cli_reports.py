"""``danbao report`` and ``danbao notifications``: what the services' own records say."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ops.cli_common import console, yuan


report = typer.Typer(help="Reports from the services' own records.", no_args_is_help=True)


@report.command("cancellations")
def report_cancellations(
    csv: Annotated[bool, typer.Option(help="CSV on standard output instead of a table.")] = False,
    notes: Annotated[int, typer.Option(help="Also list the latest N cancellations' notes (what the party wrote); "
                                            "with --csv, only those.")] = 0,
) -> None:
    """Cancelled orders by party and reason code, with what was refunded; --notes N adds the latest notes."""
    from ops.stores import service_database
    from services.payments.config import PaymentsSettings
    from services.payments.store import cancellation_counts, cancellation_notes

    async def read() -> tuple[list[tuple[str, str, int, int]], list[tuple[str, str, str, str, str, Any]]]:
        db = service_database("payments", PaymentsSettings())
        try:
            async with db.transaction() as session:
                return await cancellation_counts(session), (await cancellation_notes(session, notes) if notes else [])
        finally:
            await db.dispose()

    rows, noted = asyncio.run(read())
    if notes and csv:  # the notes themselves, quoted as CSV
        import csv as csv_module

        writer = csv_module.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("when", "order_id", "merchant_id", "party", "reason", "note"))
        for order_id, party, reason, note, merchant_id, when in noted:
            writer.writerow((when.isoformat(timespec="seconds"), order_id, merchant_id, party, reason, note))
        return
    if notes:
        listing = Table(title=f"The latest {notes} cancellation notes")
        for column in ("when", "order", "merchant", "party", "reason", "note"):
            listing.add_column(column, overflow="fold")
        for order_id, party, reason, note, merchant_id, when in noted:
            listing.add_row(when.isoformat(timespec="seconds"), order_id, merchant_id, party, reason, note)
        Console().print(listing)
    if csv:
        sys.stdout.write("party,reason,orders,refunded_fen\n" + "".join(f"{p},{r},{n},{f}\n" for p, r, n, f in rows))
        return
    table = Table(title="Cancellations by party and reason")
    for column in ("party", "reason", "orders", "refunded (CNY)"):
        table.add_column(column, justify="right" if column in ("orders", "refunded (CNY)") else "left")
    for party, reason, n, refunded in rows:
        table.add_row(party, reason, str(n), yuan(refunded))
    table.add_row("[bold]all[/bold]", "", str(sum(r[2] for r in rows)), yuan(sum(r[3] for r in rows)))
    Console().print(table)


@report.command("risk")
def report_risk(
    limit: Annotated[int, typer.Option(help="How many of the latest reviews and blocks.")] = 30,
    csv: Annotated[bool, typer.Option(help="CSV on standard output instead of a table.")] = False,
) -> None:
    """The latest risk reviews and blocks (payments' records): rule, figures, status, who decided."""
    from ops.stores import service_database
    from services.payments.config import PaymentsSettings
    from services.payments.risk_store import reviews

    async def read() -> list[dict[str, Any]]:
        db = service_database("payments", PaymentsSettings())
        try:
            async with db.transaction() as session:
                return await reviews(session, limit)
        finally:
            await db.dispose()

    rows = asyncio.run(read())
    columns = ("created_at", "review_id", "subject", "subject_id", "merchant_id", "rule", "outcome", "observed", "threshold",
               "status", "decided_by")
    if csv:
        sys.stdout.write(",".join(columns) + "\n" + "".join(",".join(str(r[c] if r[c] is not None else "") for c in columns) + "\n"
                                                          for r in rows))
        return
    table = Table(title=f"Risk reviews and blocks (latest {limit})")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right" if column in ("observed", "threshold") else "left")
    for r in rows:
        table.add_row(*(r[c].isoformat(timespec="seconds") if c == "created_at" else str(r[c] or "") for c in columns))
    Console().print(table)
    open_count = sum(r["status"] == "open" for r in rows)
    console.print(f"{open_count} open: decide with payments.risk.decide (an operator's command)")


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
                      yuan(r.gross), yuan(r.fee), yuan(r.net))
    table.add_row("[bold]total[/bold]", "", "", yuan(sum(r.gross for r in rows)), yuan(sum(r.fee for r in rows)),
                  yuan(sum(r.net for r in rows)))
    Console().print(table)


notifications_cli = typer.Typer(help="What the platform told buyers and merchants.", no_args_is_help=True)


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


ledger = typer.Typer(help="Escrow's double-entry ledger.", no_args_is_help=True)
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
        table.add_row(account, currency, yuan(value))
    table.add_row("[bold]sum[/bold]", "", yuan(sum(v for _, v in rows)))
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
        table.add_row(currency, yuan(d), yuan(c), yuan(d - c))
    Console().print(table)
    for problem in result.problems:
        console.print(f"[red]{problem}[/red]")
    if not result.balanced:
        raise typer.Exit(1)
    console.print("[green]balanced[/green]")
