"""Who may send what: a command's token proves its sender (``shared.assertions``), its type says which
actor kinds may send it (``Payload.ACTORS``), and the roster says who holds a staff role.

Refusals, as ``<service>.command.rejected``, with nothing changed:
- ``unauthenticated``: no token, or one that is malformed, forged, expired, for another audience,
  from an unknown issuer or an issuer that may not assert that actor kind, used before (its
  ``jti``), or bound to another command;
- ``forbidden``: a good token, but the actor may not do this (a buyer ruling a case, an operator
  approving an application, somebody not on the roster acting as staff; the domain adds the
  party checks: only the order's buyer confirms its receipt).

The roster (``roster_entry``) is each service's own copy, changed only by ``control.roster.grant``
and ``control.roster.revoke``, which only the admin console's issuer may sign; each change is a
``control.roster.changed`` event. In dev and test mode each service starts with ``DEV_ROSTER``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, bindparam, select as sa_select
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.assertions import (STAFF_KINDS, Claims, TrustedIssuer, Unauthenticated, Verifier, development_issuers,
                               development_keys_in, parse_issuers)
from shared.contracts.catalog import TopicContract
from shared.envelope import ActorKind, Envelope
from shared.settings import Mode, PlatformSettings
from shared.statements import run_in
from shared.unit_of_work import Rejected

# Development staff, on every service's roster in dev and test mode (never in production).
DEV_ROSTER: dict[str, tuple[str, ...]] = {
    "OP-1": ("operator",),
    "RV-1": ("reviewer",),
    "ARB-1": ("arbitrator",),
}


class UsedToken(SQLModel, table=True):
    """A token's ``jti`` once a command has used it, kept until the token has expired."""

    __tablename__ = "used_token"

    issuer: str = Field(primary_key=True, max_length=100)
    jti: str = Field(primary_key=True, max_length=128)
    command_type: str = Field(max_length=200)
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


class RosterEntry(SQLModel, table=True):
    """A staff member's role: operator, reviewer or arbitrator."""

    __tablename__ = "roster_entry"

    principal_id: str = Field(primary_key=True, max_length=64)
    role: str = Field(primary_key=True, max_length=32)
    granted_by: str = Field(max_length=64)
    reason: str = Field(max_length=200)
    granted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


AUTHORITY_TABLES: list[type[SQLModel]] = [UsedToken, RosterEntry]
_USED = UsedToken.__table__  # type: ignore[attr-defined]


def _used_in(jtis: list[Any]) -> Any:
    return sa_select(_USED.c.jti).where(_USED.c.issuer == bindparam("issuer"), _USED.c.jti.in_(jtis))


def trusted_issuers(platform: PlatformSettings) -> dict[str, TrustedIssuer]:
    """The issuers whose tokens this process accepts: ``DANBAO_TRUSTED_ISSUERS_FILE``, or the development
    issuers in dev and test mode. Production needs the file and refuses development keys."""
    if platform.trusted_issuers_file is None:
        if platform.mode is Mode.PRODUCTION:
            raise ValueError("DANBAO_TRUSTED_ISSUERS_FILE must name the trusted issuers' keys in production mode")
        return development_issuers()
    issuers = parse_issuers(json.loads(Path(platform.trusted_issuers_file).read_text()))
    if platform.mode is Mode.PRODUCTION and (dev := development_keys_in(issuers)):
        raise ValueError(f"development issuer keys are refused in production mode: {', '.join(dev)}")
    return issuers


@dataclass
class Authority:
    """Checks a command's token and its actor's right to send it."""

    verifier: Verifier

    @classmethod
    def from_settings(cls, platform: PlatformSettings) -> Authority:
        return cls(Verifier(trusted_issuers(platform), leeway_seconds=platform.token_leeway_seconds,
                            max_lifetime_seconds=platform.token_max_lifetime_seconds))

    def verify(self, document: Mapping[str, Any], at: float | None = None) -> Claims | Rejected:
        """The token's claims, or the ``unauthenticated`` refusal (pure: no database)."""
        try:
            return self.verifier.verify(document.get("token"), document, at)
        except Unauthenticated as exc:
            return Rejected("unauthenticated", str(exc))

    async def used(self, session: AsyncSession, claims: Sequence[Claims]) -> set[tuple[str, str]]:
        """Which of these tokens a command has used already (one query per issuer, by the primary key)."""
        by_issuer: dict[str, set[str]] = {}
        for claim in claims:
            by_issuer.setdefault(claim.issuer, set()).add(claim.jti)
        used: set[tuple[str, str]] = set()
        for issuer, jtis in sorted(by_issuer.items()):  # per issuer: the primary key (issuer, jti) finds each row
            rows = await run_in(session, "used-tokens", _used_in, sorted(jtis), {"issuer": issuer}, fetch="all")
            used.update((issuer, row[0]) for row in rows)
        return used

    async def admit(self, session: AsyncSession, envelope: Envelope, contract: TopicContract) -> Rejected | None:
        """``forbidden`` unless the envelope's actor kind may send this type, and staff hold the role."""
        actor = envelope.actor
        allowed = contract.payloads[envelope.type].ACTORS
        if actor.kind not in allowed:
            names = " or ".join(kind.value for kind in allowed) or "nobody"
            return Rejected("forbidden", f"a {actor.kind.value} may not send {envelope.type} (only {names})")
        if actor.kind in STAFF_KINDS and await session.get(RosterEntry, (actor.id, actor.kind.value)) is None:
            return Rejected("forbidden", f"{actor.id} is not on the roster as {actor.kind.value}")
        return None


def token_row(claims: Claims, command_type: str) -> dict[str, Any]:
    return dict(issuer=claims.issuer, jti=claims.jti, command_type=command_type,
                expires_at=datetime.fromtimestamp(claims.expires_at, timezone.utc))


async def seed_development_roster(session: AsyncSession, now: datetime) -> None:
    """Dev and test mode: the development staff of ``DEV_ROSTER``, where missing."""
    for principal, roles in DEV_ROSTER.items():
        for role in roles:
            if await session.get(RosterEntry, (principal, role)) is None:
                session.add(RosterEntry(principal_id=principal, role=role, granted_by="development",
                                        reason="development roster (dev and test mode only)", granted_at=now))


def is_staff(kind: ActorKind) -> bool:
    return kind in STAFF_KINDS
