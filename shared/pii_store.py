"""Encrypted columns at rest: which a service's store keeps, how many values each key holds, and
re-encrypting values still under an older key with the current one (the key-rotation job).

A service's store declares its encrypted columns as ``ENCRYPTED_COLUMNS`` (a list of
``EncryptedColumns``); ``danbao pii status`` and ``danbao pii reencrypt`` work from that list.
Re-encryption goes in batches, each its own short transaction, so it can run beside the service,
be interrupted at any point and be run again: a value already under the current key is left alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, and_, func, not_, or_, select, tuple_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

from shared.db import Database
from shared.pii import FORMAT, FieldCipher, UnreadableValue, key_id_of

UNREADABLE = "(unreadable)"


@dataclass(frozen=True)
class EncryptedColumns:
    """Columns of one table holding ``FieldCipher`` values, and the context each was encrypted in,
    from the row's primary key and the column's name."""

    table: type[SQLModel]
    columns: tuple[str, ...]
    context: Callable[[Mapping[str, Any], str], str]

    @property
    def name(self) -> str:
        return str(self.table.__tablename__)

    def primary_key(self) -> list[Column[Any]]:
        return list(self.table.__table__.primary_key.columns)  # type: ignore[attr-defined]

    def column(self, name: str) -> Column[Any]:
        return self.table.__table__.c[name]  # type: ignore[attr-defined, no-any-return]


def _under(column: Column[Any], key_id: str) -> ColumnElement[bool]:
    return column.startswith(f"{FORMAT}:{key_id}:", autoescape=True)


async def key_counts(db: Database, registry: list[EncryptedColumns], cipher: FieldCipher) -> dict[str, Counter[str]]:
    """Values by key id, for each encrypted ``table.column`` (empty values are not counted). Every key
    the cipher has is listed, with 0 if it holds nothing; values under another key, or not in the
    cipher's format, are counted by their key id or as ``(unreadable)``."""
    counts: dict[str, Counter[str]] = {}
    async with db.transaction() as session:
        for spec in registry:
            for name in spec.columns:
                column = spec.column(name)
                found: Counter[str] = Counter({key_id: 0 for key_id in cipher.keys})
                for key_id in cipher.keys:
                    found[key_id] = (await session.exec(select(func.count()).where(_under(column, key_id)))).one()[0]  # type: ignore[call-overload]
                others = and_(column.is_not(None), not_(or_(*(_under(column, k) for k in cipher.keys))))
                for (stored,) in (await session.exec(select(column).where(others))).all():  # type: ignore[call-overload]
                    found[_key_of(stored)] += 1
                counts[f"{spec.name}.{name}"] = found
    return counts


def _key_of(stored: str) -> str:
    try:
        return key_id_of(stored)
    except UnreadableValue:
        return UNREADABLE


@dataclass
class Reencryption:
    """What a re-encryption run did (or, dry, would do)."""

    reencrypted: Counter[str] = field(default_factory=Counter)  # values moved to the current key, by old key id
    unreadable: list[str] = field(default_factory=list)  # "table.column row-key": values no configured key opens
    batches: int = 0

    @property
    def total(self) -> int:
        return sum(self.reencrypted.values())


async def reencrypt(db: Database, registry: list[EncryptedColumns], cipher: FieldCipher, *, batch_size: int = 500,
                    dry_run: bool = False, on_batch: Callable[[Reencryption], None] | None = None) -> Reencryption:
    """Re-encrypt, under the cipher's current key, every stored value still under another key.

    Rows are visited in primary-key order, ``batch_size`` at a time, each batch in its own
    transaction with its rows locked; a value is replaced only if it is still the one that was read,
    so a row the service rewrites meanwhile keeps the service's value. Values no configured key can
    open are left as they are and reported. ``dry_run`` reads and decrypts but writes nothing."""
    report = Reencryption()
    for spec in registry:
        key_columns = spec.primary_key()
        columns = [spec.column(name) for name in spec.columns]
        stale = or_(*(and_(c.is_not(None), not_(_under(c, cipher.current))) for c in columns))
        after: tuple[Any, ...] | None = None
        while True:
            async with db.transaction() as session:
                query = select(*key_columns, *columns).where(stale)
                if after is not None:
                    query = query.where(tuple_(*key_columns) > tuple_(*after) if len(key_columns) > 1
                                        else key_columns[0] > after[0])
                rows = (await session.exec(  # type: ignore[call-overload]
                    query.order_by(*key_columns).limit(batch_size).with_for_update())).all()
                for row in rows:
                    await _reencrypt_row(session, spec, row._mapping, cipher, report, dry_run)
            if not rows:
                break
            report.batches += 1
            if on_batch is not None:
                on_batch(report)
            after = tuple(rows[-1]._mapping[c.name] for c in key_columns)
            if len(rows) < batch_size:
                break
    return report


async def _reencrypt_row(session: Any, spec: EncryptedColumns, row: Mapping[str, Any], cipher: FieldCipher,
                         report: Reencryption, dry_run: bool) -> None:
    changes: dict[str, str] = {}
    moved: Counter[str] = Counter()
    for name in spec.columns:
        stored = row[name]
        if stored is None or _key_of(stored) == cipher.current:
            continue
        try:
            changes[name] = cipher.rotate(stored, spec.context(row, name))
        except UnreadableValue:
            where = "/".join(str(row[c.name]) for c in spec.primary_key())
            report.unreadable.append(f"{spec.name}.{name} {where}")
            continue
        moved[_key_of(stored)] += 1
    if not changes:
        return
    if not dry_run:
        unchanged = [spec.column(name) == row[name] for name in changes]
        same_row = [c == row[c.name] for c in spec.primary_key()]
        result = await session.exec(update(spec.table).where(*same_row, *unchanged).values(**changes))
        if result.rowcount != 1:
            return  # rewritten meanwhile: already under the current key
    report.reencrypted.update(moved)
