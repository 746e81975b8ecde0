"""Documentation generated from the contracts, so the README cannot drift from the code."""

from __future__ import annotations

from shared import topics
from shared.contracts import CONTRACTS
from shared.contracts.common import DeadLetter

PRODUCERS = {
    "danbao.psp.requests": ("payments", "payment provider"),
    "danbao.psp.callbacks": ("payment provider", "payments"),
    "danbao.control.commands": ("operators, tests (dev/test mode)", "every service"),
    "danbao.control.events": ("every service", "tests, operators"),
    "danbao.payments.commands": ("storefronts, buyer apps", "payments"),
    "danbao.payments.events": ("payments", "escrow, anyone"),
    "danbao.escrow.events": ("escrow", "anyone"),
}


def topic_table() -> str:
    lines = ["| topic | written by | read by | message types |", "|---|---|---|---|"]
    for name, contract in CONTRACTS.items():
        service = name.split(".")[1]
        default = (f"clients of {service}", service) if name.endswith(".commands") else (service, "anyone")
        writer, reader = PRODUCERS.get(name, default)
        kinds = ", ".join(f"`{t}`" for t in contract.types()) or "(none yet: every message is dead-lettered)"
        lines.append(f"| `{name}` | {writer} | {reader} | {kinds} |")
    for service in topics.SERVICES:
        lines.append(f"| `{topics.dead_letters(service)}` | {service} | operators | `{DeadLetter.TYPE}` |")
    return "\n".join(lines) + "\n"
