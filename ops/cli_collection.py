"""``danbao qr``, ``danbao collect`` and ``danbao pay``: a merchant's collection codes from the command line, as a
merchant's till and a customer's phone would use them (each command signed for its actor)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from ops import kafka
from ops.cli_common import bootstrap, console
from shared import topics


async def issued_code(code_id: str) -> dict[str, Any] | None:
    """The code's ``payments.collection.issued`` data, from the payments events."""
    found = None
    async for record in kafka.read(bootstrap(), topics.events("payments"), idle_timeout=1.0):
        message = json.loads(record.value)
        if message.get("type") == "payments.collection.issued" and (message.get("data") or {}).get("code_id") == code_id:
            found = message["data"]
    return found


def _issued_or_exit(code_id: str) -> dict[str, Any]:
    code = asyncio.run(issued_code(code_id))
    if code is None:
        console.print(f"[red]no collection code {code_id} on {topics.events('payments')}[/red]")
        raise typer.Exit(1)
    return code


def qr(
    code_id: Annotated[str, typer.Argument(help="The merchant's collection code (payments.collection.issue) to show.")],
    png: Annotated[Path | None, typer.Option(help="Write a PNG here instead of drawing in the terminal.")] = None,
) -> None:
    """Render a collection code as its QR code: the cashier URL from its payments.collection.issued event."""
    import segno

    payload = _issued_or_exit(code_id)["url"]
    code = segno.make(payload, error="m")
    if png:
        code.save(str(png), kind="png", scale=8, border=4)
        console.print(f"wrote {png} ({code.designator}) for {payload}")
    else:
        code.terminal(compact=True)
        console.print(payload)


def collect(
    merchant_id: Annotated[str, typer.Argument(help="The merchant collecting.")],
    amount: Annotated[int | None, typer.Option(help="A sale's amount in fen (an order code); leave out for the shop's "
                                                    "standing QR code (the customer enters the amount).")] = None,
    item: Annotated[str, typer.Option(help="The sale's item name.")] = "商品 Goods",
    code_id: Annotated[str | None, typer.Option(help="The code's id (default: a new one).")] = None,
    channel: Annotated[str, typer.Option(help="qr_code, payment_link or in_app.")] = "qr_code",
    no_guarantee: Annotated[bool, typer.Option("--no-guarantee", help="Do not offer 一键担保.")] = False,
) -> None:
    """Issue a collection code for MERCHANT_ID (signed as the merchant); then `danbao qr CODE` draws it."""
    code_id = code_id or f"{'QR' if amount else 'SHOP'}-{merchant_id}-{uuid.uuid4().hex[:6]}"
    data: dict[str, Any] = {"code_id": code_id, "merchant_id": merchant_id, "kind": "order" if amount else "shop",
                            "channel": channel, "guarantee": not no_guarantee}
    if amount:
        data |= {"order_id": f"O-{code_id}", "amount": {"amount": amount, "currency": "CNY"},
                 "items": [{"sku": "SKU-TILL", "name": item, "quantity": 1, "unit_price": amount}]}
    value = kafka.command("payments.collection.issue", data, ("merchant", merchant_id), "danbao-cli", f"code-{code_id}")
    asyncio.run(kafka.publish(bootstrap(), topics.commands("payments"), value, code_id))
    console.print(f"issued {code_id}: `danbao qr {code_id}` draws it, `danbao pay {code_id} --buyer B-…` pays with it")


def pay(
    code_id: Annotated[str, typer.Argument(help="The collection code to pay with.")],
    buyer: Annotated[str, typer.Option(help="The customer (a buyer id).")],
    amount: Annotated[int | None, typer.Option(help="Shop codes: the amount in fen the customer enters.")] = None,
    order_id: Annotated[str | None, typer.Option(help="Shop codes: the new order's id (default: a new one).")] = None,
    no_guarantee: Annotated[bool, typer.Option("--no-guarantee", help="Pay without 一键担保.")] = False,
) -> None:
    """Pay with a collection code as the customer's phone would: read the code's token, redeem it (signed as the buyer)."""
    code = _issued_or_exit(code_id)
    if code["kind"] == "shop":
        if amount is None:
            console.print("[red]a shop code's customer enters the amount: --amount FEN[/red]")
            raise typer.Exit(2)
        order_id = order_id or f"W-{uuid.uuid4().hex[:12]}"
    data = {"token": code["token"], "order_id": order_id, "guaranteed": not no_guarantee,
            "amount": {"amount": amount, "currency": "CNY"} if amount is not None else None}
    value = kafka.command("payments.collection.redeem", data, ("buyer", buyer), "danbao-cli", f"flow-{order_id or code['order_id']}")
    asyncio.run(kafka.publish(bootstrap(), topics.commands("payments"), value, code_id))
    console.print(f"{buyer} pays with {code_id}: order {order_id or code['order_id']} (`danbao tail danbao.payments.events` follows it)")


def register(app: typer.Typer) -> None:
    app.command()(qr)
    app.command()(collect)
    app.command()(pay)
