"""Database engine factory: a SQLite file by default, PostgreSQL by URL. One ``Database`` per service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite:///`` URLs and pick the async driver."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


def sqlite_file_url(data_dir: Path, service: str) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(data_dir / f'{service}.db').as_posix()}"


def make_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        # pysqlite's own transaction handling breaks SAVEPOINT; take it over, and take the
        # write lock at BEGIN so concurrent writers queue instead of failing mid-transaction.
        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


class Database:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite has one writer at a time; queueing this process's transactions here is far
        # cheaper than SQLite's busy handler, which sleeps in steps of up to 100 ms.
        self._sqlite_lock = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def create_tables(self, tables: Iterable[type[SQLModel]]) -> None:
        wanted = [t.__table__ for t in tables]  # type: ignore[attr-defined]
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=wanted))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One database transaction: committed on success, rolled back on any error."""
        if self._sqlite_lock is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._sqlite_lock, self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def upsert_row(session: AsyncSession, row: SQLModel | None, model: type[SQLModel], values: dict, now: datetime) -> SQLModel:  # type: ignore[type-arg]
    """Insert a new row (stamped ``created_at``) or update the loaded one with ``values``."""
    if row is None:
        row = model(created_at=now, **values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.add(row)
    return row
