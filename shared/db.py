"""Database engine factory: a SQLite file by default, PostgreSQL by URL. One ``Database`` per service."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import sqlite_inline  # noqa: F401 - registers the sqlite+inline dialect
# The Core statement helpers live in shared.statements; imported from here as before.
from shared.statements import (  # noqa: F401
    _INLINE,
    _CoreTransaction,
    fetch_one,
    insert_rows,
    run,
    run_in,
    savepoint,
    upsert,
    upsert_row,
)


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite:///`` URLs and pick the async driver."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+inline:///" + url[len("sqlite:///"):]
    return url


def sqlite_file_url(data_dir: Path, service: str) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+inline:///{(data_dir / f'{service}.db').as_posix()}"


_SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")


def make_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        # Statements run inline on the event loop: see shared/sqlite_inline.py.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        # pysqlite's own transaction handling breaks SAVEPOINT; take it over, and take the
        # write lock at BEGIN so concurrent writers queue instead of failing mid-transaction.
        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
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
        self._core: sqlite3.Connection | None = None  # see core()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def create_tables(self, tables: Iterable[type[SQLModel]]) -> None:
        """Create the tables that are missing, as the models stand: for tests and scratch databases. A service's
        own database gets its schema from its migrations (shared/migrations, ``danbao db upgrade``)."""
        wanted = [t.__table__ for t in tables]  # type: ignore[attr-defined]
        async with self.transaction() as session:
            await session.run_sync(lambda sync: SQLModel.metadata.create_all(sync.connection(), tables=wanted))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One database transaction: committed on success, rolled back on any error.

        On SQLite every transaction of the process goes through here: the write lock is taken at
        BEGIN and released at COMMIT, both inline, while closing the session yields to the loop.
        A connection opened elsewhere would hold the lock across that yield, and the next writer
        would wait for it synchronously, freezing the process until the busy timeout."""
        if self._sqlite_lock is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._sqlite_lock, self.sessions() as session, session.begin():
            connection = await session.connection()
            if connection.dialect.driver == "inline":
                # Core statements then run on the sqlite3 connection itself: no greenlet per statement.
                session.info[_INLINE] = (connection.dialect, connection.sync_connection.connection.dbapi_connection)
            yield session

    @asynccontextmanager
    async def connection(self, begin: bool = False) -> AsyncIterator[Any]:
        """A plain connection (in a transaction, committed at the end, with ``begin``) for what drives SQLAlchemy
        itself, such as the schema migrations. On SQLite it takes its turn with this process's transactions, as
        ``transaction()`` does, so it never holds the write lock while another of them waits for it."""
        opened = self.engine.begin() if begin else self.engine.connect()
        if self._sqlite_lock is None:
            async with opened as connection:
                yield connection
            return
        async with self._sqlite_lock, opened as connection:
            yield connection

    @asynccontextmanager
    async def core(self) -> AsyncIterator[Any]:
        """A transaction for this module's Core helpers only (``run``, ``run_in``, ``fetch_one``,
        ``insert_rows``), for paths that need no ORM session: the outbox relay.

        On SQLite-inline it is the process's own ``sqlite3`` connection, begun and committed
        directly: an ORM session costs some 0.3 ms per transaction and yields to the event loop
        several times. Elsewhere it is an ordinary ``transaction()``."""
        if self._sqlite_lock is None or self.engine.dialect.driver != "inline" or self.engine.url.database in (None, "", ":memory:"):
            async with self.transaction() as session:
                yield session
            return
        async with self._sqlite_lock:
            connection = self._core_connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield _CoreTransaction({_INLINE: (self.engine.dialect, connection)})
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _core_connection(self) -> sqlite3.Connection:
        if self._core is None:
            connection = sqlite3.connect(self.engine.url.database, timeout=30, isolation_level=None,
                                         check_same_thread=False)
            for pragma in _SQLITE_PRAGMAS:
                connection.execute(pragma)
            self._core = connection
        return self._core

    async def ping(self) -> bool:
        try:
            async with self.transaction() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            return True
        except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
            return False

    async def dispose(self) -> None:
        if self._core is not None:
            self._core.close()
            self._core = None
        await self.engine.dispose()
