"""Since release c1c2458: the verified settlement account's kind and reference (payouts to the verified account).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Both nullable: an application decided before has none (an account is verified at activation).

A database made before migrations may already hold part of this (create_tables added new tables,
columns and indexes at start-up between c1c2458 and the migrations): shared/migrations/legacy.py adds
only what is missing. No row is touched.
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
        "merchant_application",
        sa.Column("settlement_account_kind", sa.String(length=16), nullable=True),
        sa.Column("settlement_account_ref", sa.String(length=64), nullable=True),
    )


def downgrade() -> None:
    # Forward only: going back is restoring the backup taken before the upgrade (docs/runbook.md, Upgrade a release).
    raise NotImplementedError("restore the backup taken before the upgrade instead")
