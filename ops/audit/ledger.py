"""The holds and ledger checks.

holds
    Per ``hold_id``: its ``escrow.hold.created`` exists, and all its events name that order. At most
    one ``escrow.hold.released`` and one ``escrow.shipment.recorded``. Settled at most once: when
    released, released + refunded = held (a release takes all that remains, so a hold refunded in
    full is never released too); otherwise refunded <= held. The lowest ``remaining`` of its
    refunds is held - refunded. A release's ``net`` = amount - fee, 0 <= fee <= amount and
    0 <= ``recovered`` <= net.
ledger
    ``escrow.ledger.entry_posted`` by ``entry_id`` (two events posting one id with different content
    is a breach; with the same content, one entry). Each entry has two lines or more, none zero,
    summing to zero; each currency sums to zero. ``escrow_holding`` lines carry an order, and per
    order that account's balance is a credit equal to what the hold events leave held
    (held - released - refunded). Liabilities (``escrow_holding``, ``merchant_available:*``,
    ``merchant_payout_pending:*``, ``buyer_refunds_payable:*``) never end in debit, assets
    (``merchant_recovery_receivable:*``, ``insurer_receivable``) never in credit, and the
    ``compensation_pool``, a passage, ends at zero.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ops.audit.core import CheckResult, Stream, fen
from services.escrow.domain import (
    COMPENSATION_POOL,
    ESCROW_HOLDING,
    INSURER_RECEIVABLE,
    buyer_refunds_payable,
    merchant_available,
    merchant_payout_pending,
    merchant_recovery_receivable,
)
from shared.contracts import escrow as e

LIABILITIES = (ESCROW_HOLDING, merchant_available(""), merchant_payout_pending(""), buyer_refunds_payable(""))
ASSETS = (merchant_recovery_receivable(""), INSURER_RECEIVABLE)


def check_holds(s: Stream, r: CheckResult) -> None:
    created = {x.hold_id: x for x in s.all(e.HoldCreated)}
    events: defaultdict[str, list[Any]] = defaultdict(list)
    for kind in (e.ShipmentRecorded, e.HoldReleased, e.HoldRefunded, e.HoldFrozen, e.HoldUnfrozen):
        for item in s.all(kind):
            events[item.hold_id].append(item)
    for hold_id in sorted(created.keys() | events.keys()):
        r.checked += 1
        hold, of = created.get(hold_id), events[hold_id]
        if hold is None:
            r.breaches.append(f"{hold_id}: {len(of)} events of a hold never created")
            continue
        r.expect(all(x.order_id == hold.order_id for x in of), f"{hold_id}: events name another order than {hold.order_id}")
        released = [x for x in of if isinstance(x, e.HoldReleased)]
        refunds = [x for x in of if isinstance(x, e.HoldRefunded)]
        shipments = [x for x in of if isinstance(x, e.ShipmentRecorded)]
        r.expect(len(released) <= 1, f"{hold_id}: released {len(released)} times")
        r.expect(len(shipments) <= 1, f"{hold_id}: shipped {len(shipments)} times")
        held, refunded, out = hold.amount.amount, fen(refunds), fen(released)
        r.expect(refunded + out == held if released else refunded <= held,
                 f"{hold_id}: released {out} + refunded {refunded} {'!=' if released else '>'} held {held}")
        r.expect(not refunds or min(x.remaining for x in refunds) == held - refunded,
                 f"{hold_id}: its refunds leave {min((x.remaining for x in refunds), default=0)}, not {held - refunded}")
        for x in released:
            r.expect(0 <= x.fee <= x.amount.amount and x.net == x.amount.amount - x.fee and 0 <= x.recovered <= x.net,
                     f"{hold_id}: release of {x.amount.amount} with fee {x.fee}, net {x.net}, recovered {x.recovered}")


def check_ledger(s: Stream, r: CheckResult) -> None:
    for entry_id in s.conflicting_entries:
        r.breaches.append(f"{entry_id}: posted twice with different content")
    entries = s.entries
    balances: Counter[tuple[str, str]] = Counter()
    holding: Counter[str] = Counter()
    for entry in entries.values():
        r.checked += 1
        total = sum(line.amount for line in entry.lines)
        r.expect(len(entry.lines) >= 2 and total == 0 and all(line.amount for line in entry.lines),
                 f"{entry.entry_id} ({entry.kind}, {entry.order_id or 'no order'}): {len(entry.lines)} lines summing to {total}")
        for line in entry.lines:
            balances[(line.account, entry.currency)] += line.amount
            if line.account == ESCROW_HOLDING:
                r.expect(entry.order_id is not None, f"{entry.entry_id} ({entry.kind}) moves escrow_holding for no order")
                holding[entry.order_id or ""] += line.amount
    for currency in sorted({currency for _, currency in balances}):
        total = sum(amount for (_, c), amount in balances.items() if c == currency)
        r.expect(total == 0, f"the {currency} ledger sums to {total}")
    for (account, currency), balance in sorted(balances.items()):
        if account.startswith(LIABILITIES):
            r.expect(balance <= 0, f"{account} ends in debit: {balance} {currency}")
        elif account.startswith(ASSETS):
            r.expect(balance >= 0, f"{account} ends in credit: {balance} {currency}")
        elif account == COMPENSATION_POOL:
            r.expect(balance == 0, f"{account} ends at {balance} {currency}, not zero")
    held = {x.order_id: x.amount.amount - fen(s.of(x.order_id, e.HoldReleased)) - fen(s.of(x.order_id, e.HoldRefunded))
            for x in s.all(e.HoldCreated)}
    for order_id in sorted(held.keys() | holding.keys()):
        left = -holding[order_id]
        r.expect(left >= 0, f"{order_id}: escrow_holding ends in debit for the order: {-left}")
        r.expect(left == held.get(order_id, 0),
                 f"{order_id}: escrow_holding keeps {left} for the order, the hold events leave {held.get(order_id, 0)}")
