"""Typed message contracts: one discriminated union per topic."""

from shared.contracts import bank, control, disputes, escrow, insurer, notifications, onboarding, payments, psp, registry
from shared.contracts.catalog import TopicContract, UnknownType, UnsupportedVersion

CONTRACTS: dict[str, TopicContract] = {
    c.topic: c
    for c in (
        payments.COMMANDS, payments.EVENTS, escrow.COMMANDS, escrow.EVENTS,
        psp.REQUESTS, psp.CALLBACKS, bank.REQUESTS, bank.CALLBACKS, registry.REQUESTS, registry.RESULTS,
        insurer.REQUESTS, insurer.CALLBACKS, control.COMMANDS, control.EVENTS,
        onboarding.COMMANDS, onboarding.EVENTS, disputes.COMMANDS, disputes.EVENTS,
        notifications.COMMANDS, notifications.EVENTS,
    )
}

__all__ = ["CONTRACTS", "TopicContract", "UnknownType", "UnsupportedVersion"]
