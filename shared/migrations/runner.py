"""Reading, upgrading and comparing one service's database with alembic, on an open connection.

Everything here is synchronous on a SQLAlchemy ``Connection`` (alembic is); the ``database_*`` and
``upgrade_database`` wrappers run it on a service's async engine with ``run_sync``.

An upgrade is one transaction (PostgreSQL and SQLite both have transactional DDL): on PostgreSQL it
first takes an advisory lock, so instances started together take turns: the first migrates, the others
wait, then find nothing left to do. On SQLite the transaction's ``BEGIN IMMEDIATE`` does the same.

A database made before migrations (its tables there, no version table) is *adopted*: if it holds every
table and column of the service's first revision (the baseline: release c1c2458's schema), it gains the
baseline's indexes it lacks, is stamped with that revision and upgraded from there; the next revision adds only what such a database lacks (see
shared/migrations/legacy.py). One missing something of the baseline is refused, with the list.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Index, MetaData, Table, create_engine, inspect, text
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

if TYPE_CHECKING:
    from shared.db import Database
    from shared.migrations import ServiceSchema

log = logging.getLogger("danbao.migrations")

CURRENT, BEHIND, EMPTY, UNVERSIONED, UNKNOWN = "current", "behind", "empty", "unversioned", "unknown"


class SchemaRefused(Exception):
    """The database cannot be brought to the code's schema by an upgrade; the message says why."""


@dataclass
class SchemaStatus:
    service: str
    state: str  # current, behind, empty, unversioned (made before migrations) or unknown (a revision this code lacks)
    revision: str | None  # what the version table says (None: no version table)
    head: str  # what the code needs

    @property
    def ok(self) -> bool:
        return self.state == CURRENT

    def describe(self) -> str:
        return {
            CURRENT: f"at {self.head}, the code's revision",
            BEHIND: f"at {self.revision}, behind the code's {self.head}",
            EMPTY: f"empty, the code needs {self.head}",
            UNVERSIONED: f"made before migrations (no alembic_version_{self.service} table), the code needs {self.head}",
            UNKNOWN: f"at {self.revision}, a revision this code does not know (written by a newer release?); "
                     f"the code's is {self.head}",
        }[self.state]


@dataclass
class UpgradeResult:
    service: str
    before: SchemaStatus
    stamped: str | None = None  # a database made before migrations: the baseline it was stamped with first
    applied: list[str] = field(default_factory=list)  # revisions run, oldest first

    def describe(self) -> str:
        steps = " -> ".join(self.applied)
        if self.stamped:
            return f"{self.service}: made before migrations, stamped {self.stamped}" + (f", then ran {steps}" if steps else "")
        if not self.applied:
            return f"{self.service}: already at {self.before.head}"
        return f"{self.service}: upgraded from {self.before.revision or 'an empty database'}: {steps}"


# -- alembic's configuration for one service ----------------------------------------------------------------


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Revisions name SQLModel's string type as SQLAlchemy's, so they import no model code."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def context_options(schema: ServiceSchema) -> dict[str, Any]:
    """alembic's options for this service: its version table, its tables alone, batch mode (SQLite's ALTERs)."""
    tables = set(schema.metadata.tables)

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in tables  # another service's or a test's tables are not this schema's

    return dict(target_metadata=schema.metadata, version_table=schema.version_table, render_as_batch=True,
                compare_type=True, include_name=include_name, render_item=_render_item)


def alembic_config(schema: ServiceSchema) -> Config:
    from shared.migrations import HERE

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_locations", str(schema.versions))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = schema
    return config


@functools.lru_cache(maxsize=32)
def _scripts_at(versions: str) -> ScriptDirectory:
    from shared.migrations import HERE

    return ScriptDirectory(str(HERE), version_locations=[versions])


def scripts(schema: ServiceSchema) -> ScriptDirectory:
    """The service's revisions, read once per process."""
    return _scripts_at(str(schema.versions))


def forget_scripts() -> None:
    """Read the revision files again next time (after ``danbao db revision`` wrote one)."""
    _scripts_at.cache_clear()


def head(schema: ServiceSchema) -> str:
    found = scripts(schema).get_current_head()
    assert found, f"{schema.service} has no revisions in {schema.versions}"
    return found


class _Quiet(logging.Filter):
    """alembic announces its dialect each time a context is configured; a service start needs none of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_Quiet())


# -- reading ------------------------------------------------------------------------------------------------


def _has_tables(connection: Connection, schema: ServiceSchema) -> bool:
    return bool(set(inspect(connection).get_table_names()) & set(schema.metadata.tables))


def read_status(connection: Connection, schema: ServiceSchema) -> SchemaStatus:
    """Where the database stands against the code's revisions. Reads only."""
    code = head(schema)
    revisions = MigrationContext.configure(connection, opts={"version_table": schema.version_table}).get_current_heads()
    if not revisions:
        state = UNVERSIONED if _has_tables(connection, schema) else EMPTY
        return SchemaStatus(schema.service, state, None, code)
    (revision,) = revisions  # one line of history per service: never branched
    if revision == code:
        return SchemaStatus(schema.service, CURRENT, revision, code)
    try:
        scripts(schema).get_revision(revision)
    except CommandError:
        return SchemaStatus(schema.service, UNKNOWN, revision, code)
    return SchemaStatus(schema.service, BEHIND, revision, code)


def differences(connection: Connection, schema: ServiceSchema) -> list[Any]:
    """What alembic's autogenerate finds between the database and the models (empty: they agree)."""
    context = MigrationContext.configure(connection, opts=context_options(schema))
    return list(compare_metadata(context, schema.metadata))


def describe_difference(difference: Any) -> str:
    """One of ``differences()`` in words: ('add_column', None, 'payout', Column('review', …)) -> add_column payout.review."""
    if isinstance(difference, list):  # a column's modifications come as a list of tuples
        return "; ".join(describe_difference(d) for d in difference)
    kind, *rest = difference
    if kind.startswith("modify_"):
        _, table, column, _, before, after = rest
        return f"{kind} {table}.{column}: {before!r} in the database, {after!r} in the models"
    named = [getattr(x, "name", None) or str(x) for x in rest if x is not None]
    tables = [getattr(getattr(x, "table", None), "name", None) for x in rest]
    where = next((t for t in tables if t), None)
    return f"{kind} {(where + '.') if where and where != named[-1] else ''}{named[-1] if named else ''}"


# -- upgrading ----------------------------------------------------------------------------------------------


def _lock(connection: Connection, schema: ServiceSchema) -> None:
    """PostgreSQL: one upgrade of this service's database at a time; held until the transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(CAST(:key AS BIGINT))"), {"key": schema.lock_key})


def _run(connection: Connection, schema: ServiceSchema, destination: str) -> list[str]:
    """Run the revisions from the database's own up to ``destination``; returns the ones run."""
    script = scripts(schema)
    applied: list[str] = []

    def steps(revision: Any, context: Any) -> Any:
        return script._upgrade_revs(destination, revision)

    def record(*, step: Any, **_: Any) -> None:
        applied.append(step.up_revision_id)

    with EnvironmentContext(alembic_config(schema), script, fn=steps, destination_rev=destination) as environment:
        environment.configure(connection=connection, on_version_apply=[record], **context_options(schema))
        with environment.begin_transaction():
            environment.run_migrations()
    return applied


@dataclass
class _Baseline:
    columns: dict[str, set[str]]  # table -> column names
    indexes: dict[str, dict[str, tuple[list[str], bool]]]  # table -> index name -> (columns, unique)


@functools.lru_cache(maxsize=32)
def _baseline(schema: ServiceSchema) -> _Baseline:
    """Tables, columns and indexes of the service's first revision, as it makes them (in a scratch SQLite database)."""
    base = scripts(schema).get_base()
    assert base, f"{schema.service} has no baseline revision"
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            _run(connection, schema, base)
            inspector = inspect(connection)
            tables = [t for t in inspector.get_table_names() if t != schema.version_table]
            return _Baseline(
                {t: {c["name"] for c in inspector.get_columns(t)} for t in tables},
                {t: {i["name"]: (list(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(t)} for t in tables})
    finally:
        engine.dispose()


def _adopt(connection: Connection, schema: ServiceSchema) -> str:
    """Stamp a database made before migrations with the baseline, once it is seen to hold its tables and columns;
    the baseline's indexes it lacks (made before they were added to the models) are created first."""
    baseline = _baseline(schema)
    inspector = inspect(connection)
    present = {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names() if t in baseline.columns}
    missing = sorted(set(baseline.columns) - set(present)) + sorted(
        f"{t}.{c}" for t in present for c in baseline.columns[t] - present[t])
    if missing:
        raise SchemaRefused(
            f"{schema.service}: the database was made before migrations and lacks part of the baseline (revision "
            f"{scripts(schema).get_base()}, the schema of the first release these migrations adopt): {', '.join(missing)}. "
            "It is older than that; restore a backup of a newer one, or create the missing parts by hand and run "
            "the upgrade again")
    for table, indexes in baseline.indexes.items():
        there = {i["name"] for i in inspector.get_indexes(table)}
        for name, (columns, unique) in indexes.items():
            if name not in there:
                reflected = Table(table, MetaData(), autoload_with=connection)
                Index(name, *(reflected.c[c] for c in columns), unique=unique).create(connection)
                log.info("%s: the database made before migrations lacked the index %s; created", schema.service, name)
    base = scripts(schema).get_base()
    assert base
    MigrationContext.configure(connection, opts={"version_table": schema.version_table}).stamp(scripts(schema), base)
    log.info("%s: the database made before migrations holds the baseline; stamped %s", schema.service, base)
    return base


def upgrade(connection: Connection, schema: ServiceSchema, destination: str = "head") -> UpgradeResult:
    """Bring the database to the code's revision (or ``destination``), in the connection's transaction,
    which the caller commits. Raises ``SchemaRefused`` for a database no upgrade can fix."""
    _lock(connection, schema)
    before = read_status(connection, schema)
    if before.state == UNKNOWN:
        raise SchemaRefused(f"{schema.service}: the database is {before.describe()}; run a release that knows it")
    result = UpgradeResult(schema.service, before)
    if before.state == UNVERSIONED:
        result.stamped = _adopt(connection, schema)
    if before.state != CURRENT or destination != "head":
        result.applied = _run(connection, schema, destination)
    return result


# -- on a service's async engine ----------------------------------------------------------------------------


@asynccontextmanager
async def one_instance_at_a_time(db: Database, schema: ServiceSchema) -> AsyncIterator[None]:
    """Instances of the service take turns through the block (PostgreSQL: the upgrade's advisory lock, held by a
    connection of its own for the block's length): start-up seeds check, then insert. SQLite: one instance only."""
    if not db.is_postgres:
        yield
        return
    async with db.engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("SELECT pg_advisory_lock(CAST(:key AS BIGINT))"), {"key": schema.lock_key})
        try:
            yield
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(CAST(:key AS BIGINT))"), {"key": schema.lock_key})


async def upgrade_database(db: Database, schema: ServiceSchema) -> UpgradeResult:
    async with db.connection(begin=True) as connection:
        return await connection.run_sync(upgrade, schema)


async def database_status(db: Database, schema: ServiceSchema) -> SchemaStatus:
    async with db.connection() as connection:
        return await connection.run_sync(read_status, schema)


async def database_differences(db: Database, schema: ServiceSchema) -> list[Any]:
    async with db.connection() as connection:
        return await connection.run_sync(differences, schema)
