"""Database engine factory: a SQLite file by default, PostgreSQL by URL. One ``Database`` per service."""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from typing import Any

from sqlalchemy import Row, Table, bindparam, event, insert, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import sqlite_inline  # noqa: F401 - registers the sqlite+inline dialect


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
        """Create missing tables, and missing indexes of tables that exist already (an index
        added to a model reaches databases created before it)."""
        wanted = [t.__table__ for t in tables]  # type: ignore[attr-defined]

        def create(sync: Session) -> None:
            connection = sync.connection()
            SQLModel.metadata.create_all(connection, tables=wanted)
            for table in wanted:
                for index in table.indexes:
                    index.create(connection, checkfirst=True)

        async with self.transaction() as session:
            await session.run_sync(create)

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


# -- Core statements for the hot paths ---------------------------------------------------------
# Building a statement and its cache key costs more than running it, and the ORM's unit of work
# more again; these helpers build each statement once and run it on the session's connection,
# inside one greenlet per call (``run_sync``), which SQLite-inline and asyncpg both allow.

_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_INLINE = "danbao.inline"  # session.info key: (dialect, sqlite3 connection) of a SQLite-inline transaction


def _table(model: type[SQLModel] | Table) -> Table:
    return model if isinstance(model, Table) else model.__table__  # type: ignore[attr-defined,return-value]


async def run(session: AsyncSession, statement: Any, params: Any = None, fetch: str | None = None) -> Any:
    """Run a Core statement in the session's transaction: ``fetch`` "first" or "all" rows, else the row count."""
    inline = session.info.get(_INLINE)
    if inline is not None:
        direct = _direct(inline[0], statement, params)
        if direct is not None:
            return direct.execute(inline[1], params, fetch)

    def go(sync: Session) -> Any:
        result = sync.connection().execute(statement, params)
        if fetch == "first":
            return result.first()
        if fetch == "all":
            return result.all()
        return result.rowcount

    return await session.run_sync(go)


class _CoreTransaction:
    """What ``Database.core()`` yields on SQLite-inline: enough of a session for ``run``."""

    __slots__ = ("info",)

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    async def run_sync(self, fn: Any, *args: Any) -> Any:
        raise TypeError("this statement needs SQLAlchemy's execution path: run it in Database.transaction()")


class _DirectRow(tuple):  # type: ignore[type-arg]
    """A result row with the columns as attributes, like SQLAlchemy's ``Row``."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _index: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


class _Direct:
    """A statement compiled once for SQLite-inline and run on the ``sqlite3`` cursor itself.

    SQLAlchemy's execution path (options, events, cache lookup, result metadata) costs several
    times the statement on a local SQLite file; this keeps what matters of it: the compiled SQL,
    the bind values in order through the dialect's bind processors, scalar column defaults, and
    the result processors. Statements it cannot run this way (expanding IN lists, callable or
    server-side defaults, RETURNING) go through SQLAlchemy as before."""

    def __init__(self, compiled: Any, dialect: Any, defaults: dict[str, Any]) -> None:
        # Nothing here refers to the statement, which the cache holds weakly.
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ())
        processors = compiled._bind_processors
        self.processors = [processors.get(name) for name in self.names]
        self.base = {name: bind.effective_value for name, bind in compiled.binds.items()} | defaults
        columns = compiled._result_columns
        self.row_type: type[_DirectRow] | None = None
        if columns:
            fields = tuple(c.keyname for c in columns)
            self.row_type = type("Row", (_DirectRow,), {"__slots__": (), "_fields": fields,
                                                        "_index": {f: i for i, f in enumerate(fields)}})
            self.result = [c.type._cached_result_processor(dialect, None) for c in columns]

    def _values(self, params: dict[str, Any] | None) -> list[Any]:
        bound = self.base | params if params else self.base
        return [p(bound[n]) if p else bound[n] for n, p in zip(self.names, self.processors, strict=True)]

    def execute(self, dbapi: Any, params: Any, fetch: str | None) -> Any:
        if isinstance(params, list):
            return dbapi.executemany(self.sql, [self._values(p) for p in params]).rowcount
        cursor = dbapi.execute(self.sql, self._values(params))
        if fetch is None:
            return cursor.rowcount
        rows = [cursor.fetchone()] if fetch == "first" else cursor.fetchall()
        assert self.row_type is not None
        if not any(self.result):
            made = [None if raw is None else self.row_type(raw) for raw in rows]
        else:
            made = [None if raw is None else self.row_type(p(v) if p else v for p, v in zip(self.result, raw, strict=True))
                    for raw in rows]
        return made[0] if fetch == "first" else made


# Per statement object (held weakly: a statement built per call is compiled per call and never
# piles up here), per set of parameter names.
_DIRECT: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], _Direct | None]] = weakref.WeakKeyDictionary()


def _direct(dialect: Any, statement: Any, params: Any) -> _Direct | None:
    """The statement's direct form for these parameter names, or None when it has none."""
    first = params[0] if isinstance(params, list) and params else params
    if first is not None and not isinstance(first, dict):
        return None
    keys = tuple(first) if first else ()
    forms = _DIRECT.get(statement)
    if forms is None:
        forms = _DIRECT[statement] = {}
    elif keys in forms:
        return forms[keys]
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    prefetch = getattr(compiled, "insert_prefetch", None) or []
    defaults = {c.key: c.default.arg for c in prefetch if c.default is not None and c.default.is_scalar}
    simple = (not any(b.expanding for b in compiled.binds.values())
              and not getattr(compiled, "postfetch", None) and not getattr(compiled, "update_prefetch", None)
              and not getattr(compiled, "effective_returning", None)
              and len(defaults) == len(prefetch)
              # a parameter the caller must give but did not: SQLAlchemy's path reports it
              and all(name in keys or name in defaults for name, b in compiled.binds.items() if b.required))
    forms[keys] = direct = _Direct(compiled, dialect, defaults) if simple else None
    return direct


_IN_SIZES = (8, 32, 128, 512, 2048)
_IN_STATEMENTS: dict[tuple[str, int], Any] = {}


async def run_in(session: AsyncSession, name: str, build: Callable[[list[Any]], Any], values: Sequence[Any],
                 params: dict[str, Any] | None = None, fetch: str | None = None) -> Any:
    """Run a statement with an ``IN`` list of ``values``: ``build`` makes it from a list of bind
    parameters. The list is padded (with its last value) to one of a few fixed lengths, so each
    length is compiled once and runs as a plain statement instead of an expanding one; a longer
    list runs in parts (rows of ``fetch="all"`` joined, row counts added)."""
    largest = _IN_SIZES[-1]
    if len(values) > largest:
        parts = [await run_in(session, name, build, values[i:i + largest], params, fetch) for i in range(0, len(values), largest)]
        return [row for part in parts for row in part] if fetch == "all" else sum(parts)
    size = next(size for size in _IN_SIZES if len(values) <= size)
    statement = _IN_STATEMENTS.get((name, size))
    if statement is None:
        statement = _IN_STATEMENTS[(name, size)] = build([bindparam(f"in_{i}") for i in range(size)])
    bound = dict(params or {})
    last = values[-1]
    bound.update((f"in_{i}", values[i] if i < len(values) else last) for i in range(size))
    return await run(session, statement, bound, fetch)


async def fetch_one(session: AsyncSession, model: type[SQLModel] | Table, *, lock: bool = False, **where: Any) -> Row[Any] | None:
    """The row whose columns equal ``where`` (locked for the transaction when ``lock``); columns as attributes."""
    table = _table(model)
    key = ("select", table.name, tuple(where), lock)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = select(table).where(*(table.c[name] == bindparam(f"w_{name}") for name in where))
        statement = _STATEMENTS[key] = statement.with_for_update() if lock else statement
    return await run(session, statement, {f"w_{name}": value for name, value in where.items()}, fetch="first")


async def upsert(session: AsyncSession, model: type[SQLModel] | Table, values: dict[str, Any],
                 insert_only: tuple[str, ...] = ("created_at",)) -> None:
    """Insert ``values`` as a row, or update the row with the same primary key (``insert_only``
    columns keep what the insert wrote)."""
    table = _table(model)
    dialect = session.bind.dialect.name
    key = ("upsert", dialect, table.name, tuple(values), insert_only)
    statement = _STATEMENTS.get(key)
    if statement is None:
        build = sqlite_insert if dialect == "sqlite" else postgresql_insert
        statement = build(table)
        primary = [c.name for c in table.primary_key.columns]
        updated = {name: statement.excluded[name] for name in values if name not in primary and name not in insert_only}
        statement = _STATEMENTS[key] = (statement.on_conflict_do_update(index_elements=primary, set_=updated) if updated
                                        else statement.on_conflict_do_nothing(index_elements=primary))
    await run(session, statement, values)


async def insert_rows(session: AsyncSession, model: type[SQLModel] | Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in one statement."""
    if rows:
        table = _table(model)
        statement = _STATEMENTS.get(("insert", table.name))
        if statement is None:
            statement = _STATEMENTS[("insert", table.name)] = insert(table)
        await run(session, statement, rows)


def _execute_sql(sync: Session, *statements: str) -> None:
    connection = sync.connection()
    for sql in statements:
        connection.exec_driver_sql(sql)


def _flush_and_release(sync: Session) -> None:
    sync.flush()
    _execute_sql(sync, "RELEASE SAVEPOINT danbao_unit")


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """One message's (or timer's) changes inside the batch transaction: kept on success, undone
    on any error. The caller drops the session's ORM objects after an error (``expunge_all``).

    A fixed savepoint name, unlike the ORM's numbered ones, is compiled once. On SQLite-inline the
    savepoint statements run on the sqlite3 connection, and the ORM is flushed only when it holds
    changes."""
    inline = session.info.get(_INLINE)
    if inline is not None:
        dbapi = inline[1]
        dbapi.execute("SAVEPOINT danbao_unit")
        try:
            yield
            if session.new or session.dirty or session.deleted:
                await session.run_sync(lambda sync: sync.flush())
            dbapi.execute("RELEASE SAVEPOINT danbao_unit")
        except BaseException as failure:
            try:
                dbapi.execute("ROLLBACK TO SAVEPOINT danbao_unit")
                dbapi.execute("RELEASE SAVEPOINT danbao_unit")
            except Exception:  # noqa: BLE001 - the whole transaction goes
                raise failure from None
            raise
        return
    await session.run_sync(_execute_sql, "SAVEPOINT danbao_unit")
    try:
        yield
        await session.run_sync(_flush_and_release)
    except BaseException as failure:
        try:
            await session.run_sync(_execute_sql, "ROLLBACK TO SAVEPOINT danbao_unit", "RELEASE SAVEPOINT danbao_unit")
        except Exception:  # noqa: BLE001 - a failed flush leaves the session unusable: the whole transaction goes
            raise failure from None
        raise


def upsert_row(session: AsyncSession, row: SQLModel | None, model: type[SQLModel], values: dict, now: datetime) -> SQLModel:  # type: ignore[type-arg]
    """Insert a new row (stamped ``created_at``) or update the loaded one with ``values``."""
    if row is None:
        row = model(created_at=now, **values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.add(row)
    return row
