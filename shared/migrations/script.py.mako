"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Review what autogenerate wrote: it misses renames (a drop and an add lose the column's data), server defaults a
new NOT NULL column needs for the rows already there, and data that must move. Both SQLite (batch mode) and
PostgreSQL run it: tests/store/test_migrations.py checks the models and the revisions agree on both.
"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    # Forward only: going back is restoring the backup taken before the upgrade (docs/runbook.md, Upgrade a release).
    raise NotImplementedError("restore the backup taken before the upgrade instead")
