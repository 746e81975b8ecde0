"""The platform's tables (messaging, authority, timers) as release c1c2458 made them in every service's
database: each service's baseline revision creates them first.

Frozen: this is the schema of that release. A later change to these tables is a new revision in every
service's history, never an edit here."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_platform_tables() -> None:
    op.create_table('clock_state',
        sa.Column('service', sa.String(length=100), nullable=False),
        sa.Column('offset_seconds', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('service')
    )
    op.create_table('dead_letter',
        sa.Column('dead_letter_id', sa.String(length=64), nullable=False),
        sa.Column('consumer', sa.String(length=100), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('topic', sa.String(length=200), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('offset', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=True),
        sa.Column('value', sa.LargeBinary(), nullable=False),
        sa.Column('sealed', sa.Boolean(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_unix', sa.Float(), nullable=False),
        sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('dead_letter_id')
    )
    op.create_table('durable_timer',
        sa.Column('timer_id', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('aggregate_id', sa.String(length=100), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cancelled', sa.Boolean(), nullable=False),
        sa.Column('data', sa.String(), nullable=False),
        sa.PrimaryKeyConstraint('timer_id')
    )
    op.create_index(op.f('ix_durable_timer_aggregate_id'), 'durable_timer', ['aggregate_id'], unique=False)
    op.create_index('ix_timer_due', 'durable_timer', ['fired_at', 'due_at'], unique=False)
    op.create_table('idempotency_record',
        sa.Column('consumer', sa.String(length=100), nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('command_type', sa.String(length=200), nullable=False),
        sa.Column('event_ids', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('consumer', 'key')
    )
    op.create_index('ix_idempotency_created', 'idempotency_record', ['created_at'], unique=False)
    op.create_table('inbox_message',
        sa.Column('consumer', sa.String(length=100), nullable=False),
        sa.Column('message_id', sa.String(length=200), nullable=False),
        sa.Column('topic', sa.String(length=200), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('offset', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=200), nullable=True),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('consumer', 'message_id')
    )
    op.create_index('ix_inbox_received', 'inbox_message', ['received_at'], unique=False)
    op.create_table('outbox_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('topic', sa.String(length=200), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=True),
        sa.Column('type', sa.String(length=200), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.Column('headers', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_outbox_unpublished', 'outbox_message', ['published_at', 'id'], unique=False)
    op.create_table('parked_message',
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('consumer', sa.String(length=100), nullable=False),
        sa.Column('waits_for', sa.String(length=200), nullable=False),
        sa.Column('topic', sa.String(length=200), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('offset', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=True),
        sa.Column('value', sa.LargeBinary(), nullable=False),
        sa.Column('sealed', sa.Boolean(), nullable=False),
        sa.Column('parked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('message_id')
    )
    op.create_index(op.f('ix_parked_message_waits_for'), 'parked_message', ['waits_for'], unique=False)
    op.create_table('relay_lease',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('owner', sa.String(length=100), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name')
    )
    op.create_table('roster_entry',
        sa.Column('principal_id', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('granted_by', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('principal_id', 'role')
    )
    op.create_table('used_token',
        sa.Column('issuer', sa.String(length=100), nullable=False),
        sa.Column('jti', sa.String(length=128), nullable=False),
        sa.Column('command_type', sa.String(length=200), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('issuer', 'jti')
    )
    op.create_index(op.f('ix_used_token_expires_at'), 'used_token', ['expires_at'], unique=False)

