"""Each service's migrations against its models, on SQLite and PostgreSQL: from nothing they make exactly what
the models describe (alembic's autogenerate finds no difference), the baseline is release c1c2458's schema,
and a database behind the code is seen as such."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect

from shared.db import Database
from shared.migrations import database_differences, database_status, upgrade_database
from shared.migrations.runner import describe_difference, differences, scripts, upgrade
from tests.conftest import create_pg_database, drop_pg_database
from tests.release import OWNERS, SERVICES, load_release, schema_of


def _revisions(service: str) -> list[str]:
    """The service's revisions, oldest first."""
    return [s.revision for s in reversed(list(scripts(schema_of(service)).walk_revisions()))]


@pytest.mark.parametrize("service", OWNERS)
async def test_the_migrations_make_what_the_models_describe(database_url: str, service: str) -> None:
    schema = schema_of(service)
    database = Database(database_url)
    try:
        assert (await database_status(database, schema)).state == "empty"
        first = await upgrade_database(database, schema)
        assert first.applied == _revisions(service) and first.stamped is None
        status = await database_status(database, schema)
        assert status.ok and status.revision == _revisions(service)[-1]
        assert [describe_difference(d) for d in await database_differences(database, schema)] == []
        assert (await upgrade_database(database, schema)).applied == []  # nothing left to do
    finally:
        await database.dispose()


async def _at(database: Database, service: str, revision: str) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: upgrade(sync, schema_of(service), destination=revision))


async def test_a_database_behind_the_code_is_seen_and_its_differences_named(database_url: str) -> None:
    """What the agreement test relies on: at the baseline, payments differs from its models by what came since."""
    schema = schema_of("payments")
    database = Database(database_url)
    try:
        await _at(database, "payments", "0001")
        status = await database_status(database, schema)
        assert (status.state, status.revision, status.ok) == ("behind", "0001", False)
        found = {describe_difference(d) for d in await database_differences(database, schema)}
        assert {"add_table risk_review", "add_table collection_code", "add_column payout.reserved",
                "add_column merchant_view.payouts_held_reason", "add_index payment_order.ix_payment_order_collection_code_id"} <= found
        result = await upgrade_database(database, schema)
        assert result.applied == ["0002", "0003"] and result.describe() == "payments: upgraded from 0001: 0002 -> 0003"
        assert await database_differences(database, schema) == []
    finally:
        await database.dispose()


async def test_a_model_changed_without_a_revision_is_a_difference(database_url: str) -> None:
    """A column added to a model and no revision for it: the agreement test would fail, naming it."""
    schema = schema_of("escrow")
    database = Database(database_url)
    try:
        await upgrade_database(database, schema)
        changed = sa.MetaData()
        for table in schema.metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["escrow_hold"].append_column(sa.Column("note", sa.String(40), nullable=True))
        original, schema._metadata = schema._metadata, changed
        try:
            async with database.engine.connect() as connection:
                found = await connection.run_sync(lambda sync: differences(sync, schema))
        finally:
            schema._metadata = original
        assert [describe_difference(d) for d in found] == ["add_column escrow_hold.note"]
    finally:
        await database.dispose()


def _shape(connection: Any) -> dict[str, Any]:
    """A schema as a comparable value: tables, columns (type, nullability), keys and indexes."""
    inspector = inspect(connection)
    shape = {}
    for table in inspector.get_table_names():
        if table.startswith("alembic_version"):
            continue
        shape[table] = {
            "columns": {c["name"]: (str(c["type"]).split("(")[0].replace("VARCHAR", "STRING"), c.get("type").__dict__.get("length"),
                                    c["nullable"]) for c in inspector.get_columns(table)},
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return shape


@pytest.mark.parametrize("service", SERVICES)
async def test_the_baseline_is_release_c1c2458s_schema(database_url: str, service: str, tmp_path: Any) -> None:
    """The first revision makes the schema that release's own code made (its dump in tests/fixtures)."""
    other = f"sqlite:///{tmp_path / 'release.db'}" if database_url.startswith("sqlite") else await create_pg_database()
    release, baseline = Database(other), Database(database_url)
    try:
        await load_release(service, other)
        await _at(baseline, service, "0001")
        async with release.engine.connect() as a, baseline.engine.connect() as b:
            assert await b.run_sync(_shape) == await a.run_sync(_shape)
    finally:
        await release.dispose()
        await baseline.dispose()
        if not other.startswith("sqlite"):
            await drop_pg_database(other)


async def test_an_upgrade_waits_while_another_holds_the_database(database_url: str) -> None:
    """One upgrade at a time: on PostgreSQL the runner's advisory lock, on SQLite the write lock its transaction
    takes at BEGIN. While another holds it the upgrade waits; once released it runs."""
    schema = schema_of("notifications")
    release: Any
    if database_url.startswith("sqlite"):
        import sqlite3

        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("PRAGMA journal_mode=WAL")  # as any service's connection leaves the file
        holder.execute("BEGIN IMMEDIATE")

        async def release() -> None:
            holder.execute("COMMIT")
            holder.close()
    else:
        import asyncpg

        holder = await asyncpg.connect(database_url)
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", schema.lock_key)

        async def release() -> None:
            await transaction.commit()
            await holder.close()

    async def upgrade_elsewhere() -> Any:  # its own thread and loop, as another instance would be
        database = Database(database_url)
        try:
            return await upgrade_database(database, schema)
        finally:
            await database.dispose()

    waiting = asyncio.ensure_future(asyncio.to_thread(asyncio.run, upgrade_elsewhere()))
    await asyncio.sleep(1.0)
    assert not waiting.done(), "the upgrade ran while another held the database"
    await release()
    result = await asyncio.wait_for(waiting, 30)
    assert result.applied == _revisions("notifications")
