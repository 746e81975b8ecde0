"""The one JSON envelope every Danbao message travels in.

Any Kafka client can read and write it: it is plain JSON with the fields below, and
``data`` holds the typed payload named by ``type``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model


class ActorKind(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"
    ARBITRATOR = "arbitrator"
    REVIEWER = "reviewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    SYSTEM = "system"


class Actor(BaseModel):
    """Who asked for this: a person or a system, with its id."""

    model_config = ConfigDict(frozen=True)

    kind: ActorKind = Field(description="The actor's role.", examples=["buyer"])
    id: str = Field(description="The actor's id within its role.", examples=["B-1001"], min_length=1, max_length=64)

    @classmethod
    def system(cls, service: str) -> Actor:
        return cls(kind=ActorKind.SYSTEM, id=service)


class Payload(BaseModel):
    """Base of every message payload. Unknown fields are ignored (schemas evolve additively)."""

    model_config = ConfigDict(extra="ignore")
    VERSION: ClassVar[int] = 1
    # For commands: the actor kinds that may send it (each with a token; staff also on the roster).
    ACTORS: ClassVar[tuple[ActorKind, ...]] = ()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _event_id_required(schema: dict[str, Any]) -> None:
    """Every message names its ``event_id``: events always do (the outbox writes it), commands must."""
    required = schema.setdefault("required", [])
    if "event_id" not in required:
        required.insert(0, "event_id")


class Envelope(BaseModel):
    """Fields every message carries, whatever its type."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_event_id_required)

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="Unique id of this message; consumers deduplicate on it. Required: a command without one is refused "
                    "`missing_event_id` (its retries could not be told from new commands); send the same one when retrying.",
        examples=["7f1c1f0e-2f0a-4a7e-9a57-2b0c6b1f9f10"],
    )
    type: str = Field(description="Message type, e.g. `escrow.hold.created`.", examples=["escrow.hold.created"])
    version: int = Field(default=1, ge=1, description="Payload schema version of this type.", examples=[1])
    occurred_at: datetime = Field(
        default_factory=utcnow,
        description="When it happened, UTC ISO 8601.",
        examples=["2026-11-23T08:30:00Z"],
    )
    producer: str = Field(min_length=1, max_length=100, description="Service or system that wrote the message.", examples=["payments"])
    correlation_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()),
        max_length=128,
        description="Id shared by every message of one business flow.",
        examples=["c0ffee00-0000-4000-8000-000000000001"],
    )
    causation_id: str | None = Field(
        default=None,
        max_length=128,
        description="`event_id` of the message that caused this one.",
        examples=["7f1c1f0e-2f0a-4a7e-9a57-2b0c6b1f9f10"],
    )
    actor: Actor = Field(description="Who asked for it.")
    idempotency_key: str | None = Field(
        default=None,
        max_length=128,
        description="For commands: repeating a key returns the first outcome instead of acting twice.",
        examples=["create-order-O-20261123-0001"],
    )
    token: str | None = Field(
        default=None,
        max_length=4096,
        description="For commands acting for a person: a short-lived JWT (compact JWS, Ed25519 or ES256) from an issuer "
                    "the platform trusts, whose `sub` and `kind` are the actor, `aud` the service (the type's first part), "
                    "`cmd` the base64url SHA-256 of the canonical JSON of {\"data\", \"type\"}, with `iat`, `exp` and a "
                    "unique `jti` (see the README's Security model). Events carry none.",
        examples=["eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiSldUIiwia2lkIjoiazEifQ.eyJpc3MiOiJidXllci1hcHAi….c2lnbmF0dXJl"],
    )
    data: Any = Field(description="The typed payload named by `type`.")

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude={"token"} if self.token is None else None).encode()


def envelope_model(type_name: str, payload: type[Payload]) -> type[Envelope]:
    """Build the envelope class whose ``type`` is ``type_name`` and whose ``data`` is ``payload``."""
    # Named after the type, not the payload class: two topics' payloads may share a class name (psp and payments
    # both have a RefundRequested), and their envelopes' schemas must not.
    name = "".join(part[:1].upper() + part[1:] for part in type_name.replace("_", ".").split(".")) + "Message"
    doc = payload.__doc__ or ""
    if payload.ACTORS:
        doc += (f" Sent by: {', '.join(kind.value for kind in payload.ACTORS)}, with a `token` that proves it "
                "(refused `unauthenticated` without a good one, `forbidden` when that actor may not do this).")
    model = create_model(
        name,
        __base__=Envelope,
        __doc__=doc,
        type=(Literal[type_name], Field(description="Message type.", examples=[type_name])),  # type: ignore[valid-type]
        data=(payload, Field(description=payload.__doc__ or "Payload.")),
    )
    return model
