"""A command's token is checked against the tokens used before: by issuer and jti, through the primary key (a
lookup by jti alone scanned every token kept, on every batch, and slowed a busy service down as they piled up)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from shared.assertions import Claims
from shared.authority import AUTHORITY_TABLES, Authority, UsedToken, _used_in
from shared.db import Database, insert_rows
from shared.envelope import ActorKind

LATER = datetime.now(timezone.utc) + timedelta(minutes=10)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables(AUTHORITY_TABLES)
    yield database
    await database.dispose()


def _claims(issuer: str, jti: str) -> Claims:
    return Claims(issuer, "B-2001", ActorKind.BUYER, frozenset(), jti, LATER.timestamp())


async def test_the_used_ones_are_found_per_issuer(db: Database) -> None:
    used = [dict(issuer=issuer, jti=jti, command_type="payments.order.pay", expires_at=LATER)
            for issuer, jti in [("buyer-app", "jti-0001"), ("merchant-gateway", "jti-0002"), ("buyer-app", "jti-0003")]]
    async with db.transaction() as session:
        await insert_rows(session, UsedToken, used)
    asked = [_claims("buyer-app", "jti-0001"), _claims("buyer-app", "jti-0002"),  # jti-0002 was used by another issuer
             _claims("merchant-gateway", "jti-0002"), _claims("merchant-gateway", "jti-0009"),
             *(_claims("buyer-app", f"jti-1{n:03d}") for n in range(40))]  # more than one padded IN list
    async with db.transaction() as session:
        found = await Authority(verifier=None).used(session, asked)  # type: ignore[arg-type]
    assert found == {("buyer-app", "jti-0001"), ("merchant-gateway", "jti-0002")}


def test_the_lookup_searches_the_primary_key_and_scans_nothing() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute(str(CreateTable(UsedToken.__table__).compile(dialect=sqlite.dialect())))  # type: ignore[attr-defined]
    compiled = _used_in([bindparam("in_0"), bindparam("in_1")]).compile(dialect=sqlite.dialect())  # as run_in builds it
    values = {"issuer": "buyer-app", "in_0": "jti-0001", "in_1": "jti-0002"}
    plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {compiled.string}",
                                                 [values[name] for name in compiled.positiontup or ()])]
    assert any(step.startswith("SEARCH used_token") and "issuer=? AND jti=?" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan
