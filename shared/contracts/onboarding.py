"""Contracts of the onboarding service. Its commands and events are added as the service is built;
until then every command sent to it is dead-lettered as an unknown type."""

from __future__ import annotations

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import rejection_payload

OnboardingCommandRejected = rejection_payload("onboarding")

COMMANDS = TopicContract(topics.commands("onboarding"), "Commands to the onboarding service.", [])
EVENTS = TopicContract(topics.events("onboarding"), "What the onboarding service reports.", [OnboardingCommandRejected])
