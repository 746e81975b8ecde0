"""Topic names. Keys are always the aggregate id (order id, merchant id, case id)."""

from __future__ import annotations

SERVICES = ("onboarding", "payments", "escrow", "disputes", "notifications")
# Edges people use (services/web: the cashier and the console): they read events into their own read models and
# send signed commands; what they cannot read goes to their dead letters. They have no commands or events topic.
EDGES = ("web",)


def commands(service: str) -> str:
    return f"danbao.{service}.commands"


def events(service: str) -> str:
    return f"danbao.{service}.events"


def dead_letters(service: str) -> str:
    return f"danbao.{service}.dlq"


PSP_REQUESTS = "danbao.psp.requests"
PSP_CALLBACKS = "danbao.psp.callbacks"
BANK_REQUESTS = "danbao.bank.requests"
BANK_CALLBACKS = "danbao.bank.callbacks"
INSURER_REQUESTS = "danbao.insurer.requests"
INSURER_CALLBACKS = "danbao.insurer.callbacks"
REGISTRY_REQUESTS = "danbao.registry.requests"
REGISTRY_RESULTS = "danbao.registry.results"
CONTROL_COMMANDS = "danbao.control.commands"
CONTROL_EVENTS = "danbao.control.events"

PARTITIONS = 4


def all_topics() -> list[str]:
    """Every topic the platform uses, for creating them up front with a known partition count."""
    names: list[str] = []
    for service in SERVICES:
        names += [commands(service), events(service), dead_letters(service)]
    names += [PSP_REQUESTS, PSP_CALLBACKS, BANK_REQUESTS, BANK_CALLBACKS, REGISTRY_REQUESTS, REGISTRY_RESULTS,
              INSURER_REQUESTS, INSURER_CALLBACKS,
              CONTROL_COMMANDS, CONTROL_EVENTS]
    names += [dead_letters(edge) for edge in EDGES]
    return names
