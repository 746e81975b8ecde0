"""Since release c1c2458: orders paid without the guarantee (escrow_direct_payment).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Escrow keeps each direct payment: its shipment, cancellation refund, case refunds and freeze.

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
    legacy.create_table(
        "escrow_direct_payment",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("auto_confirm_days", sa.Integer(), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("tracking_no", sa.String(length=64), nullable=True),
        sa.Column("cancellation_refunded", sa.Integer(), nullable=False),
        sa.Column("case_refunds", sa.Integer(), nullable=False),
        sa.Column("frozen_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("order_id"),
    )
    legacy.create_index("ix_escrow_direct_payment_merchant_id", "escrow_direct_payment", ["merchant_id"])


def downgrade() -> None:
    # Forward only: going back is restoring the backup taken before the upgrade (docs/runbook.md, Upgrade a release).
    raise NotImplementedError("restore the backup taken before the upgrade instead")
