"""Risk figures in buckets: risk_tally replaces risk_observation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

One row per thing a rule counted made every figure a scan of the window (for a busy merchant, every payment of
the last 30 days, on every payment). risk_tally keeps, per key, a count and an amount in buckets of a second, a
minute, an hour and a day (services/payments/risk_store.py). The observations there are carried over into their
buckets, so no rule's window starts empty, and risk_observation is dropped. Downgrade does the reverse (one
observation per counted thing, at its second).
"""
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRAINS = (("s", 1), ("m", 60), ("h", 3600), ("d", 86400))  # as risk_store.GRAINS when this was written

_OBSERVATION = sa.table("risk_observation", sa.column("id", sa.Integer), sa.column("key", sa.String),
                        sa.column("at", sa.DateTime(timezone=True)), sa.column("amount", sa.Integer))
_TALLY = sa.table("risk_tally", sa.column("key", sa.String), sa.column("grain", sa.String), sa.column("bucket", sa.Integer),
                  sa.column("at", sa.DateTime(timezone=True)), sa.column("count", sa.Integer), sa.column("amount", sa.Integer))


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def upgrade() -> None:
    op.create_table(
        "risk_tally",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "grain", "bucket"),
    )
    op.create_index("ix_risk_tally_at", "risk_tally", ["at"])
    bind = op.get_bind()
    buckets: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for key, at, amount in bind.execute(sa.select(_OBSERVATION.c.key, _OBSERVATION.c.at, _OBSERVATION.c.amount)):
        second = int(_utc(at).timestamp())
        for grain, length in GRAINS:
            tally = buckets[(key, grain, second // length)]
            tally[0] += 1
            tally[1] += amount
    rows = [dict(key=key, grain=grain, bucket=bucket, at=datetime.fromtimestamp(bucket * dict(GRAINS)[grain], timezone.utc),
                 count=count, amount=amount) for (key, grain, bucket), (count, amount) in buckets.items()]
    if rows:
        op.bulk_insert(_TALLY, rows)
    op.drop_index("ix_risk_observation_key_at", table_name="risk_observation")
    op.drop_index("ix_risk_observation_at", table_name="risk_observation")
    op.drop_table("risk_observation")


def downgrade() -> None:
    op.create_table(
        "risk_observation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_risk_observation_at", "risk_observation", ["at"])
    op.create_index("ix_risk_observation_key_at", "risk_observation", ["key", "at"])
    bind = op.get_bind()
    seconds = bind.execute(sa.select(_TALLY.c.key, _TALLY.c.bucket, _TALLY.c.count, _TALLY.c.amount)
                           .where(_TALLY.c.grain == "s")).all()
    rows = []
    for key, bucket, count, amount in seconds:  # a second's amount goes with its first observation
        at = datetime.fromtimestamp(bucket, timezone.utc)
        rows += [dict(key=key, at=at, amount=amount if n == 0 else 0) for n in range(count)]
    if rows:
        op.bulk_insert(_OBSERVATION, rows)
    op.drop_index("ix_risk_tally_at", table_name="risk_tally")
    op.drop_table("risk_tally")
