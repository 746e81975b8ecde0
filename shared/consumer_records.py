"""What the consumer path keeps per record and per batch, and the module-level pieces it and the tools share:
decoding a record, its key and type header, the parked and dead-letter statements and contexts."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import bindparam
from sqlalchemy import delete as sa_delete
from sqlalchemy import func as sa_func
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update

from shared.assertions import Claims
from shared.contracts.catalog import TopicContract
from shared.workspace import Workspace
from shared.db import Database, run
from shared.envelope import Envelope
from shared.pii import FieldCipher
from shared.messaging import InboxMessage, ParkedMessage
from shared.unit_of_work import Rejected, UnitOfWork, Waiting

Handler = Callable[[UnitOfWork, Envelope], Awaitable[None]]


class Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Route:
    """One topic a service consumes: its contract, a handler per message type, and its inbox name."""

    contract: TopicContract
    handlers: dict[str, Handler]
    inbox: str
    ignore_unknown_types: bool = False  # True for other services' event topics, which grow additively
    sealed_by: FieldCipher | None = None  # the topic carries personal data: dead letters keep it encrypted
    authenticated: bool = False  # a command topic: every message needs a token from a trusted issuer


_INBOX = InboxMessage.__table__  # type: ignore[attr-defined]
_PARKED_TABLE = ParkedMessage.__table__  # type: ignore[attr-defined]
PARKED_TIMER = "parked-message"
_PARKED = sa_select(_PARKED_TABLE).where(_PARKED_TABLE.c.message_id == bindparam("id"))
_UNPARK = sa_delete(_PARKED_TABLE).where(_PARKED_TABLE.c.message_id == bindparam("id"))
_SETTLE_INBOX = (sa_update(_INBOX).where(_INBOX.c.consumer == bindparam("inbox"), _INBOX.c.message_id == bindparam("id"))
                 .values(outcome=bindparam("settled")))


def _parked_for(waits_for: list[Any]) -> Any:
    return sa_select(_PARKED_TABLE).where(_PARKED_TABLE.c.waits_for.in_(waits_for)).order_by(_PARKED_TABLE.c.parked_at)


_PARKED_COUNT = sa_select(sa_func.count()).select_from(_PARKED_TABLE)


async def parked_messages(db: Database) -> float:
    """Commands waiting for another service's event."""
    async with db.core() as session:
        return float((await run(session, _PARKED_COUNT, fetch="first"))[0])


def _parked_context(topic: str) -> str:
    return f"parked:{topic}"


def _kept_context(dead_letter_id: str) -> str:
    return f"dead-letter:{dead_letter_id}"


@dataclass
class _Stored:
    """A parked command's record, as far as it is kept."""

    topic: str
    partition: int
    offset: int
    key_text: str | None
    value: bytes
    received_unix: float | None = None  # a replayed dead letter's first arrival

    @property
    def key(self) -> bytes | None:
        return self.key_text.encode() if self.key_text is not None else None


def _seen_in(ids: list[Any]) -> Any:
    return sa_select(_INBOX.c.message_id).where(_INBOX.c.consumer == bindparam("consumer"), _INBOX.c.message_id.in_(ids))


def sealed_context(topic: str) -> str:
    """What a sealed dead letter's original is bound to: the topic it came from."""
    return f"deadletter:{topic}"


def open_dead_letter(data: dict[str, Any], cipher: FieldCipher | None = None) -> bytes:
    """The original bytes of a dead letter's ``data`` (a sealed one needs the service's cipher)."""
    if data["original_encoding"] == "sealed":
        if cipher is None:
            raise ValueError("this dead letter is sealed: it needs the service's personal-data keys")
        return base64.b64decode(cipher.decrypt(data["original"], sealed_context(data["source_topic"])))
    if data["original_encoding"] == "base64":
        return base64.b64decode(data["original"])
    return str(data["original"]).encode()


_OUTBOX_COLUMNS = ("event_id", "topic", "key", "type", "payload", "headers", "created_at")
# A dead letter is one Kafka message (1 MiB by default) whatever the original's size and encoding
# (escaped text up to 6 bytes a byte, base64, sealed): of a bigger original it keeps the beginning.
MAX_ORIGINAL_BYTES = 128 * 1024


def _key(record: Record) -> str | None:
    """The record's key as the key of what answers it: an outbox key has at most 200 characters."""
    return record.key.decode("utf-8", "replace")[:200] if record.key else None


@dataclass
class _Item:
    record: Record
    route: Route
    event_id: str | None
    position: str
    envelope: Envelope | None = None
    problem: tuple[str, str] | None = None
    ignored: bool = False
    claims: Claims | None = None  # an authenticated route's good token
    refusal: Rejected | None = None  # or why its token is no good


@dataclass
class _Batch:
    """What one batch writes at its end, and the message ids it has seen."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    woken: set[str] = field(default_factory=set)  # what parked commands wait for, woken by handlers
    waiting: Waiting | None = None  # why the last command was parked
    used_tokens: set[tuple[str, str]] = field(default_factory=set)  # (issuer, jti) used before or in this batch
    tokens: list[dict[str, Any]] = field(default_factory=list)  # used_token rows to write
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # dead_letter rows to write
    ws: Workspace = field(default_factory=lambda: Workspace(None))  # the handlers' rows (shared.workspace): batched, or the caller's


def _type_header(record: Record) -> str | None:
    """The ``type`` header, when the record has a readable one."""
    for name, value in getattr(record, "headers", None) or ():
        if name == "type":
            try:
                return value.decode() if isinstance(value, bytes) else str(value)
            except UnicodeDecodeError:
                return None
    return None


def _decode(value: bytes | None) -> tuple[Any, tuple[str, str] | None]:
    if not value:
        return None, ("malformed_json", "empty message")
    try:
        return json.loads(value), None
    except ValueError as exc:  # not UTF-8, not JSON, or a number of more digits than Python converts
        return None, ("malformed_json", str(exc))
    except RecursionError:
        return None, ("malformed_json", "nested too deeply")


def _event_id(document: Any) -> str | None:
    """The envelope's ``event_id``, when the message has a well-formed one."""
    if isinstance(document, dict) and isinstance(document.get("event_id"), str):
        try:
            return str(uuid.UUID(document["event_id"]))
        except ValueError:
            return None
    return None


def _fingerprint(envelope: Envelope) -> str:
    """What makes two commands the same: type, actor and data (not ids or timestamps)."""
    body = json.dumps({"type": envelope.type, "actor": envelope.actor.model_dump(mode="json"),
                       "data": envelope.data.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _describe(exc: ValidationError, personal: bool = False) -> str:
    if personal:  # pydantic's messages may quote the input: say only where, and which kind of error
        return "; ".join(f"{'.'.join(_plain_part(p) for p in err['loc']) or '(message)'}: {err['type']}"
                         for err in exc.errors()[:20])
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(message)'}: {err['msg']}" for err in exc.errors()[:20]
    )


def _plain_part(part: Any) -> str:
    """A location part as it is if it is an index or a field-like name; another key (which could be anything) as ``*``."""
    return str(part) if isinstance(part, int) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,40}", str(part)) else "*"
