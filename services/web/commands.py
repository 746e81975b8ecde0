"""Commands the edge sends for the person signed in: built as any client writes them (``ops.kafka.command``'s
envelope), personal fields sealed to the receiving service, then signed by this edge's issuer for that person
(``shared.assertions.Signer``), validated against the topic's contract, and queued in the edge's outbox in the
same transaction as the record of what was sent. The outbox relay publishes them, keyed by the aggregate."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.web.config import BUYER_ISSUER, CONSOLE_ISSUER, WebSettings
from services.web.store import SentCommand
from shared import topics
from shared.assertions import STAFF_KINDS, Signer
from shared.contracts import CONTRACTS
from shared.envelope import ActorKind
from shared.sealing import SEALED_COMMANDS, seal_command
from shared.unit_of_work import write_outbox

PRODUCER = "web"


def topic_of(command_type: str) -> str:
    service = command_type.split(".", 1)[0]
    return topics.CONTROL_COMMANDS if service == "control" else topics.commands(service)


@dataclass
class Commands:
    settings: WebSettings
    signers: dict[str, Signer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signers = {issuer: self.settings.signer(issuer) for issuer in (BUYER_ISSUER, CONSOLE_ISSUER)}

    def prepare(self, type_: str, data: dict[str, Any], actor: tuple[ActorKind, str], roles: set[str],
                correlation_id: str | None = None) -> dict[str, Any]:
        """The signed envelope (a dict), personal fields sealed first; raises pydantic's ValidationError when
        the data do not fit the command's contract."""
        kind, actor_id = actor
        document: dict[str, Any] = {
            "event_id": str(uuid.uuid4()), "type": type_, "version": 1,
            "occurred_at": datetime.now(timezone.utc).isoformat(), "producer": PRODUCER,
            "correlation_id": correlation_id or str(uuid.uuid4()), "actor": {"kind": kind.value, "id": actor_id},
            "data": data,
        }
        if type_ in SEALED_COMMANDS:
            document = seal_command(document, self.settings.notifications_keys())
        CONTRACTS[topic_of(type_)].parse(document)  # the data fit the contract before anything is signed
        issuer = BUYER_ISSUER if kind is ActorKind.BUYER else CONSOLE_ISSUER
        if kind not in STAFF_KINDS and kind is not ActorKind.BUYER:
            raise ValueError(f"this edge signs for buyers and staff, not {kind.value}")
        asserted = sorted(roles & {kind.value}) if kind in STAFF_KINDS else []
        return self.signers[issuer].sign(document, roles=asserted)

    async def queue(self, session: AsyncSession, type_: str, data: dict[str, Any], actor: tuple[ActorKind, str], *,
                    key: str, aggregate_id: str | None = None, roles: set[str] = frozenset(),  # type: ignore[assignment]
                    correlation_id: str | None = None) -> str:
        """Queue the command in this transaction, keyed ``key``; its record names ``aggregate_id`` (the key if not
        given), where its refusal is shown. Returns its event id."""
        document = self.prepare(type_, data, actor, set(roles), correlation_id)
        now = datetime.now(timezone.utc)
        session.add(SentCommand(event_id=document["event_id"], type=type_, aggregate_id=(aggregate_id or key)[:64], actor_kind=actor[0].value,
                                actor_id=actor[1], sent_at=now))
        await write_outbox(session, [dict(
            event_id=document["event_id"], topic=topic_of(type_), key=key, type=type_,
            payload=json.dumps(document, ensure_ascii=False).encode(),
            headers=json.dumps({"content-type": "application/json", "type": type_}), created_at=now)])
        return str(document["event_id"])
