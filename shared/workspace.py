"""A batch's working set of rows: what handlers read and change, in one place per batch.

The consumer hands every message of a batch the same ``Workspace`` (``uow.ws``):

- **Reads** come from the batch's own changes first, then from rows read earlier in the batch, then from the
  database. A handler may declare what its messages will read (``prefetch``): the consumer loads those rows for
  the whole batch with one query per table before the first message runs.
- **Changes** (``put``: the row as it now stands; ``add``: amounts added to a counter row) are kept per message.
  When the handler returns, its changes join the batch's; when it fails, they are dropped, and nothing of it
  reached the database: no savepoint is needed. At the end of the batch the consumer writes them, one
  statement per table and set of columns (``executemany``), before the outbox and the inbox.
- A handler that needs the database session itself (``uow.session``: an aggregate query, the ORM) is run
  again in **direct mode**: the batch's changes so far are written, the handler runs inside a savepoint, and
  every workspace call goes straight to the database. Only the rarer paths do this.

Rows a decision depends on and another process may change meanwhile are read with a row lock on PostgreSQL
(``locked``), as ``fetch_one(lock=True)`` does; SQLite's write lock covers the whole transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.statements import fetch_one, insert_rows, run, run_in, upsert

__all__ = ["NeedsSession", "RowView", "Workspace", "locked", "prefetch"]

_LOCKED: set[str] = set()


def locked(model: type[SQLModel]) -> type[SQLModel]:
    """Mark a table whose rows a workspace reads with a row lock (``SELECT … FOR UPDATE`` on PostgreSQL)."""
    _LOCKED.add(model.__tablename__)  # type: ignore[attr-defined]
    return model


def prefetch(*wants: tuple[Any, ...]) -> Callable[[Any], Any]:
    """Declare what a handler reads, as ``(table, key of a message)`` pairs, or ``(table, value, column)`` for
    inserted rows found by another column (``find``): the consumer loads every message's rows of the batch before
    the first runs (one query per table). A key of None is skipped."""
    def mark(handler: Any) -> Any:
        handler.prefetch = wants
        return handler
    return mark


class NeedsSession(Exception):
    """A handler asked for the session in a batched run: the consumer runs it again in direct mode."""


class RowView:
    """A row whose columns are attributes, like a result row; ``_mapping`` gives them as a dict."""

    __slots__ = ("_mapping",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RowView) and other._mapping == self._mapping

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RowView({self._mapping!r})"


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _primary(model: type[SQLModel]) -> tuple[str, ...]:
    return tuple(c.name for c in _table(model).primary_key.columns)


_KEYS: dict[Any, tuple[str, ...]] = {}
_SLOTS: dict[Any, tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {}  # model → (table, its key of a row)
_BY: dict[tuple[str, str], Any] = {}  # (table, column) → the statement finding rows by it (direct mode)


def _key_names(model: type[SQLModel]) -> tuple[str, ...]:
    found = _KEYS.get(model)
    if found is None:
        found = _KEYS[model] = _primary(model)
    return found


def _slot_of(model: type[SQLModel]) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]:
    found = _SLOTS.get(model)
    if found is None:
        names = _key_names(model)
        key = itemgetter(*names)
        found = _SLOTS[model] = (model.__tablename__,  # type: ignore[attr-defined]
                                 (lambda values: (key(values),)) if len(names) == 1 else key)  # type: ignore[assignment,return-value]
    return found


class _Change:
    """One row's pending change: ``values`` to upsert (``insert_only`` columns keep what is there), or, for
    a counter (``add``), the amounts to add."""

    __slots__ = ("model", "values", "insert_only", "add")

    def __init__(self, model: type[SQLModel], values: dict[str, Any], insert_only: tuple[str, ...], add: tuple[str, ...]) -> None:
        self.model, self.values, self.insert_only, self.add = model, values, insert_only, add

    def merge(self, later: _Change) -> None:
        assert bool(self.add) == bool(later.add), f"{self.model.__tablename__}: a row is either put or added to"  # type: ignore[attr-defined]
        if self.add:
            for name in self.add:
                self.values[name] = self.values.get(name, 0) + later.values.get(name, 0)
            return
        kept = {name: self.values[name] for name in self.insert_only if name in self.values}
        self.values = {**self.values, **later.values, **kept}


_Slot = tuple[str, tuple[Any, ...]]  # (table name, primary key values)


def _merge_into(layer: dict[_Slot, _Change], index: dict[tuple[str, Any], list[_Slot]], slot: _Slot, change: _Change) -> None:
    """``change`` joins a layer (the running message's, the batch's): a new slot, or merged into the one there."""
    earlier = layer.get(slot)
    if earlier is None:
        layer[slot] = change
        index.setdefault((slot[0], slot[1][0]), []).append(slot)
    else:
        earlier.merge(change)


class Workspace:
    def __init__(self, session: AsyncSession | None, batched: bool = False) -> None:
        self.session = session
        self.batched = batched
        self._read: dict[_Slot, dict[str, Any] | None] = {}  # as the database has it (this batch's writes included)
        self._batch: dict[_Slot, _Change] = {}  # the changes of the batch's finished messages, in order
        self._message: dict[_Slot, _Change] = {}  # the running message's
        self._batch_index: dict[tuple[str, Any], list[_Slot]] = {}  # (table, first key column's value) → slots changed
        self._message_index: dict[tuple[str, Any], list[_Slot]] = {}
        self._inserts: list[tuple[type[SQLModel], dict[str, Any]]] = []  # rows only ever inserted (a journal), the batch's
        self._inserting: list[tuple[type[SQLModel], dict[str, Any]]] = []  # and the running message's
        # inserted rows found by another column (table, column, value): as read, inserted by the batch, by the message
        self._read_by: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
        self._batch_by: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
        self._message_by: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
        self.derived: dict[Any, Any] = {}  # what a store derives from database rows (a risk window's sums); reset at each write

    # -- reading ----------------------------------------------------------------------------------

    async def get(self, model: type[SQLModel], *key: Any) -> RowView | None:
        """The row with this primary key (in the key's column order), as it stands with this batch's changes."""
        if not self.batched:
            assert self.session is not None
            row = await fetch_one(self.session, model, lock=model.__tablename__ in _LOCKED,  # type: ignore[attr-defined]
                                  **dict(zip(_key_names(model), key, strict=True)))
            return None if row is None else RowView(dict(row._mapping))
        slot = (model.__tablename__, key)  # type: ignore[attr-defined]
        if slot not in self._read:
            if len(key) == 1:
                await self.load(model, key)
            else:  # a key of several columns: read alone
                assert self.session is not None
                row = await fetch_one(self.session, model, lock=model.__tablename__ in _LOCKED,  # type: ignore[attr-defined]
                                      **dict(zip(_key_names(model), key, strict=True)))
                self._read[slot] = None if row is None else dict(row._mapping)
        return self._view(slot)

    async def load(self, model: type[SQLModel], keys: Sequence[Any], column: str | None = None) -> None:
        """Read the rows of these keys (a one-column primary key, or values of ``column``, see ``find``) that the
        batch has not read yet, in one query."""
        name = model.__tablename__  # type: ignore[attr-defined]
        lock = name in _LOCKED
        assert self.session is not None
        if column is not None:
            await self._load_by(model, column, keys, lock)
            return
        wanted = sorted({k for k in keys if k is not None and (name, (k,)) not in self._read})
        if not wanted:
            return
        (column,) = _key_names(model)
        table = _table(model)

        def build(values: list[Any]) -> Any:
            statement = select(table).where(table.c[column].in_(values))
            return statement.with_for_update() if lock else statement

        rows = await run_in(self.session, f"ws:{name}:{lock}", build, wanted, fetch="all")
        for k in wanted:
            self._read[(name, (k,))] = None
        for row in rows:
            values = dict(row._mapping)
            self._read[(name, (values[column],))] = values

    async def _load_by(self, model: type[SQLModel], column: str, keys: Sequence[Any], lock: bool) -> None:
        name = model.__tablename__  # type: ignore[attr-defined]
        wanted = sorted({k for k in keys if k is not None and (name, column, k) not in self._read_by})
        if not wanted:
            return
        table = _table(model)

        def build(values: list[Any]) -> Any:
            statement = select(table).where(table.c[column].in_(values))
            return statement.with_for_update() if lock else statement

        assert self.session is not None
        rows = await run_in(self.session, f"ws:{name}:{column}:{lock}", build, wanted, fetch="all")
        for k in wanted:
            self._read_by[(name, column, k)] = []
        for row in rows:
            values = dict(row._mapping)
            self._read_by[(name, column, values[column])].append(values)

    async def find(self, model: type[SQLModel], column: str, value: Any) -> list[RowView]:
        """The inserted rows (``insert(..., by=)``) whose ``column`` holds ``value``: stored, and this batch's."""
        name = model.__tablename__  # type: ignore[attr-defined]
        if not self.batched:
            assert self.session is not None
            statement = _BY.get((name, column))
            if statement is None:
                table = _table(model)
                statement = select(table).where(table.c[column] == bindparam("value"))
                statement = _BY[(name, column)] = statement.with_for_update() if name in _LOCKED else statement
            rows = await run(self.session, statement, {"value": value}, fetch="all")
            return [RowView(dict(row._mapping)) for row in rows]
        slot = (name, column, value)
        if slot not in self._read_by:
            await self._load_by(model, column, [value], name in _LOCKED)
        return [RowView(row) for row in (*self._read_by[slot], *self._batch_by.get(slot, ()), *self._message_by.get(slot, ()))]

    def _view(self, slot: _Slot) -> RowView | None:
        base = self._read.get(slot)
        row = None if base is None else dict(base)
        for layer in (self._batch, self._message):
            change = layer.get(slot)
            if change is None:
                continue
            if change.add:
                row = row or {n: v for n, v in change.values.items() if n not in change.add}
                for name in change.add:
                    row[name] = (row.get(name) or 0) + change.values.get(name, 0)
            elif row is None:
                row = dict(change.values)
            else:
                row.update({n: v for n, v in change.values.items() if n not in change.insert_only})
        return None if row is None else RowView(row)

    def pending(self, model: type[SQLModel], first: Any) -> Iterator[dict[str, Any]]:
        """This batch's unwritten changes (finished messages' and the running one's) to the rows of ``model`` whose
        primary key starts with ``first``."""
        name = model.__tablename__  # type: ignore[attr-defined]
        for layer, index in ((self._batch, self._batch_index), (self._message, self._message_index)):
            for slot in index.get((name, first), ()):
                yield layer[slot].values

    # -- changing ---------------------------------------------------------------------------------

    async def put(self, model: type[SQLModel], values: dict[str, Any], insert_only: tuple[str, ...] = ("created_at",)) -> None:
        """The row as it now stands (inserted, or updated but for its ``insert_only`` columns)."""
        if not self.batched:
            assert self.session is not None
            await upsert(self.session, model, values, insert_only=insert_only)
            return
        self._change(model, _Change(model, dict(values), insert_only, ()))

    async def add(self, model: type[SQLModel], values: dict[str, Any], add: tuple[str, ...],
                  insert_only: tuple[str, ...] = ()) -> None:
        """Add the ``add`` columns' values to the row (inserted with ``values`` when it is new)."""
        if not self.batched:
            assert self.session is not None
            await upsert(self.session, model, values, insert_only=insert_only, add=add)
            return
        self._change(model, _Change(model, dict(values), insert_only, add))

    async def insert(self, model: type[SQLModel], rows: list[dict[str, Any]], by: tuple[str, ...] = ()) -> None:
        """Rows that are only ever inserted, such as a journal's (their keys may come from the database); ``find``
        looks them up by the ``by`` columns."""
        if not self.batched:
            assert self.session is not None
            await insert_rows(self.session, model, rows)
            return
        self._inserting += [(model, row) for row in rows]
        name = model.__tablename__  # type: ignore[attr-defined]
        for row in rows:
            for column in by:
                self._message_by.setdefault((name, column, row[column]), []).append(row)

    def _change(self, model: type[SQLModel], change: _Change) -> None:
        table, key_of = _slot_of(model)
        _merge_into(self._message, self._message_index, (table, key_of(change.values)), change)

    # -- the consumer's side ----------------------------------------------------------------------

    def keep(self) -> None:
        """The running message succeeded: its changes join the batch's."""
        for slot, change in self._message.items():
            _merge_into(self._batch, self._batch_index, slot, change)
        self._message, self._message_index = {}, {}
        self._inserts += self._inserting
        self._inserting = []
        for slot, rows in self._message_by.items():
            self._batch_by.setdefault(slot, []).extend(rows)
        self._message_by = {}

    def drop(self) -> None:
        """The running message failed: its changes are forgotten."""
        self._message, self._message_index = {}, {}
        self._inserting = []
        self._message_by = {}

    def forget(self) -> None:
        """Rows may have changed under the workspace (a handler in direct mode): read them again when asked."""
        self._read = {}
        self._read_by = {}
        self.derived = {}

    async def write(self) -> None:
        """Write the batch's changes: one statement per table and set of columns, tables in the order first changed."""
        assert not self._message and not self._inserting, "a message is still running"
        if not self._batch and not self._inserts:
            return
        assert self.session is not None
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        models: dict[tuple[Any, ...], _Change] = {}
        for change in self._batch.values():
            group = (change.model.__tablename__, tuple(change.values), change.insert_only, change.add)  # type: ignore[attr-defined]
            groups.setdefault(group, []).append(change.values)
            models.setdefault(group, change)
        for group, rows in groups.items():
            first = models[group]
            await upsert(self.session, first.model, rows, insert_only=first.insert_only, add=first.add)
        inserts: dict[type[SQLModel], list[dict[str, Any]]] = {}
        for model, row in self._inserts:
            inserts.setdefault(model, []).append(row)
        for model, rows in inserts.items():  # in the order first inserted: a journal's entries before their lines
            await insert_rows(self.session, model, rows)
        self._inserts = []
        for slot, rows in self._batch_by.items():
            if slot in self._read_by:
                self._read_by[slot] = [*self._read_by[slot], *rows]
        self._batch_by = {}
        for slot in self._batch:
            if slot in self._read:
                view = self._view(slot)
                self._read[slot] = None if view is None else view._mapping
        self._batch, self._batch_index = {}, {}
        self.derived = {}
