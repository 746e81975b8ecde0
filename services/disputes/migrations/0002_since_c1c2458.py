"""Since release c1c2458: case deadlines, returns, and orders paid without the guarantee.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

A case's current deadline and when arbitration went overdue, the return's carrier and tracking number
(all nullable); whether the order was guaranteed, true for the orders there (before direct orders
every order disputes knew came from a hold).

A database made before migrations may already hold part of this (create_tables added new tables,
columns and indexes at start-up between c1c2458 and the migrations): shared/migrations/legacy.py adds
only what is missing. No row is touched beyond that default.
"""
from collections.abc import Sequence

import sqlalchemy as sa

from shared.migrations import legacy

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    legacy.add_columns(
        "dispute_case",
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_carrier", sa.String(length=64), nullable=True),
        sa.Column("return_tracking_no", sa.String(length=64), nullable=True),
    )
    legacy.add_columns(
        "dispute_order",
        sa.Column("guaranteed", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    # Forward only: going back is restoring the backup taken before the upgrade (docs/runbook.md, Upgrade a release).
    raise NotImplementedError("restore the backup taken before the upgrade instead")
