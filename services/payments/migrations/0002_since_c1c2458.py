"""Since release c1c2458: collection codes, risk controls, payouts to the verified account, held payouts, cancellation notes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

New tables collection_code, risk_observation and risk_review; an order's cancellation note and the
collection code it came from; a merchant's first activation, verified settlement account and held payouts;
a payout's account, business days, risk review and reservation. Every new column is nullable but
payout.reserved, false for the payouts there (none was held by a review before).

A database made before migrations may already hold part of this (create_tables added new tables,
columns and indexes at start-up between c1c2458 and the migrations): shared/migrations/legacy.py adds
only what is missing. No row is touched beyond those defaults.
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
        "collection_code",
        sa.Column("code_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("items", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("buyer_id", sa.String(length=64), nullable=True),
        sa.Column("guarantee_available", sa.Boolean(), nullable=False),
        sa.Column("auto_confirm_days", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code_id"),
    )
    legacy.create_index("ix_collection_code_merchant_id", "collection_code", ["merchant_id"])
    legacy.create_table(
        "risk_observation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    legacy.create_index("ix_risk_observation_at", "risk_observation", ["at"])
    legacy.create_index("ix_risk_observation_key_at", "risk_observation", ["key", "at"])
    legacy.create_table(
        "risk_review",
        sa.Column("review_id", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("review_id"),
    )
    legacy.create_index("ix_risk_review_merchant_id", "risk_review", ["merchant_id"])
    legacy.create_index("ix_risk_review_status", "risk_review", ["status"])
    legacy.create_index("ix_risk_review_subject_id", "risk_review", ["subject_id"])

    legacy.add_columns(
        "payment_order",
        sa.Column("cancel_note", sa.String(length=500), nullable=True),
        sa.Column("collection_code_id", sa.String(length=64), nullable=True),
    )
    legacy.create_index("ix_payment_order_collection_code_id", "payment_order", ["collection_code_id"])
    legacy.add_columns(
        "merchant_view",
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=True),  # None: active before the records began
        sa.Column("settlement_account_ref", sa.String(length=64), nullable=True),
        sa.Column("settlement_account_masked", sa.String(length=40), nullable=True),
        sa.Column("settlement_account_kind", sa.String(length=16), nullable=True),
        sa.Column("sealed_settlement_account", sa.String(), nullable=True),
        sa.Column("payouts_held_reason", sa.String(length=200), nullable=True),
    )
    legacy.add_columns(
        "payout",
        sa.Column("account_ref", sa.String(length=64), nullable=True),
        sa.Column("account_masked", sa.String(length=40), nullable=True),
        sa.Column("account_kind", sa.String(length=16), nullable=True),
        sa.Column("business_days", sa.Integer(), nullable=True),
        sa.Column("review", sa.String(length=100), nullable=True),
        sa.Column("reserved", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Forward only: going back is restoring the backup taken before the upgrade (docs/runbook.md, Upgrade a release).
    raise NotImplementedError("restore the backup taken before the upgrade instead")
