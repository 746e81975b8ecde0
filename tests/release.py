"""Each service's database as release c1c2458 left it (tests/fixtures/release_c1c2458, made by
tools/release_fixture.py with that release's own code): loading it, and reading every row of it."""

from __future__ import annotations

import gzip
import importlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select

from shared.db import Database
from shared.migrations import ServiceSchema

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "release_c1c2458"
SERVICES = ("onboarding", "payments", "escrow", "disputes", "notifications")  # the release's
OWNERS = (*SERVICES, "web")  # everything with a database and migrations of its own (the web edge came after the release)


def schema_of(service: str) -> ServiceSchema:
    return importlib.import_module(f"services.{service}.migrations").SCHEMA  # type: ignore[no-any-return]


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


async def load_release(service: str, url: str) -> None:
    """The release's schema and rows for ``service``, into the empty database at ``url``."""
    backend = backend_of(url)
    script = gzip.decompress((FIXTURES / backend / f"{service}.sql.gz").read_bytes()).decode()
    if backend == "sqlite":
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            connection.executescript(script)
        finally:
            connection.close()
        return
    import asyncpg

    connection = await asyncpg.connect(url)  # its own connection: the dump empties the search path
    try:
        await connection.execute(script)
    finally:
        await connection.close()


def _primary_key(table: Any, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in table.primary_key.columns)


async def every_row(url: str) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row of every table (but the version tables), by table and primary key."""
    database = Database(url)

    def read(connection: Any) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
        metadata = MetaData()
        metadata.reflect(connection)
        return {name: {_primary_key(table, dict(r._mapping)): dict(r._mapping) for r in connection.execute(select(table))}
                for name, table in metadata.tables.items() if not name.startswith("alembic_version")}

    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await database.dispose()


def lost_or_changed(before: dict[str, dict[Any, dict[str, Any]]], after: dict[str, dict[Any, dict[str, Any]]]) -> list[str]:
    """Rows of ``before`` missing from ``after``, or with a column ``before`` had now holding another value."""
    problems = []
    for table, rows in before.items():
        for key, row in rows.items():
            now = after.get(table, {}).get(key)
            if now is None:
                problems.append(f"{table} {key}: lost")
            elif {c: now[c] for c in row} != row:
                problems.append(f"{table} {key}: {row} became {now}")
    return problems
