"""Operations for the revision after each service's baseline, which also adopts databases made before
migrations: between release c1c2458 and the migrations, ``create_tables`` added a model's new tables,
columns and indexes at start-up, so such a database may hold part of what that revision adds. These
add only what is missing; later revisions use alembic's operations as they are."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def _inspector() -> Any:
    return sa.inspect(op.get_bind())


def create_table(name: str, *columns: Any, **options: Any) -> None:
    if not _inspector().has_table(name):
        op.create_table(name, *columns, **options)


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    """Add the columns the table lacks (batch mode: SQLite's ALTER TABLE)."""
    present = {c["name"] for c in _inspector().get_columns(table)}
    missing = [c for c in columns if c.name not in present]
    if missing:
        with op.batch_alter_table(table) as batch:
            for column in missing:
                batch.add_column(column)


def create_index(name: str, table: str, columns: list[str], unique: bool = False) -> None:
    if name not in {i["name"] for i in _inspector().get_indexes(table)}:
        op.create_index(name, table, columns, unique=unique)
