"""Contracts of the disputes service. Its commands and events are added as the service is built;
until then every command sent to it is dead-lettered as an unknown type."""

from __future__ import annotations

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import rejection_payload

DisputesCommandRejected = rejection_payload("disputes")

COMMANDS = TopicContract(topics.commands("disputes"), "Commands to the disputes service.", [])
EVENTS = TopicContract(topics.events("disputes"), "What the disputes service reports.", [DisputesCommandRejected])
