"""Contracts of the notifications service. Its commands and events are added as the service is built;
until then every command sent to it is dead-lettered as an unknown type."""

from __future__ import annotations

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import rejection_payload

NotificationsCommandRejected = rejection_payload("notifications")

COMMANDS = TopicContract(topics.commands("notifications"), "Commands to the notifications service.", [])
EVENTS = TopicContract(topics.events("notifications"), "What the notifications service reports.", [NotificationsCommandRejected])
