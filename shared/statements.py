"""Core statements for the hot paths, on a ``shared.db.Database`` transaction's session.

Building a statement and its cache key costs more than running it, and the ORM's unit of work
more again; these helpers build each statement once and run it on the session's connection,
inside one greenlet per call (``run_sync``), which SQLite-inline and asyncpg both allow."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

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


async def upsert(session: AsyncSession, model: type[SQLModel] | Table, values: dict[str, Any] | list[dict[str, Any]],
                 insert_only: tuple[str, ...] = ("created_at",), add: tuple[str, ...] = ()) -> None:
    """Insert ``values`` as a row (or each of a list of rows), or update the row with the same primary key
    (``insert_only`` columns keep what the insert wrote; ``add`` columns gain the value instead of taking it: a
    counter or balance moved in one atomic statement, whatever a concurrent writer does)."""
    table = _table(model)
    dialect = session.bind.dialect.name
    columns = tuple(values[0] if isinstance(values, list) else values)
    key = ("upsert", dialect, table.name, columns, insert_only, add)
    statement = _STATEMENTS.get(key)
    if statement is None:
        build = sqlite_insert if dialect == "sqlite" else postgresql_insert
        statement = build(table)
        primary = [c.name for c in table.primary_key.columns]
        updated = {name: table.c[name] + statement.excluded[name] if name in add else statement.excluded[name]
                   for name in columns if name not in primary and name not in insert_only}
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
