"""Schema migrations (alembic), one history per service, each in the service's own database.

A service's schema is its own tables (``store.TABLES``) plus what every runtime keeps beside them: the
messaging tables (outbox, inbox, idempotency keys, parked messages, relay lease, clock, dead letters),
the authority's (used tokens, roster) and the durable timers (the web edge keeps no timers). Its revisions live in
``services/<service>/migrations/`` and its version table is ``alembic_version_<service>``, so two
services pointed at one database (a test's, say) never read each other's history.

This package holds what the five share: ``ServiceSchema`` (what one service's database should hold),
the runner (``upgrade``, ``read_status``, ``differences``: shared/migrations/runner.py), the helpers
the first revisions use to adopt databases made before migrations (shared/migrations/legacy.py), and
alembic's ``env.py`` and revision template for ``danbao db revision``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from shared.authority import AUTHORITY_TABLES
from shared.messaging import MESSAGING_TABLES
from shared.timers import DurableTimer

HERE = Path(__file__).resolve().parent  # alembic's script_location: env.py and script.py.mako


def platform_tables() -> list[type[SQLModel]]:
    """The tables every service's runtime keeps beside its own."""
    return [*MESSAGING_TABLES, *AUTHORITY_TABLES, DurableTimer]


@dataclass(eq=False)
class ServiceSchema:
    """What one service's database holds: its own tables and the platform's, and the revisions that make them."""

    service: str
    tables: Sequence[type[SQLModel]]
    versions: Path  # the folder of the service's revision files
    shared: Sequence[type[SQLModel]] = field(default_factory=platform_tables)  # the platform's tables its runtime keeps
    _metadata: MetaData | None = field(default=None, init=False, repr=False)

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.service}"

    @property
    def metadata(self) -> MetaData:
        """A MetaData of this service's tables alone (the models share SQLModel's one MetaData)."""
        if self._metadata is None:
            metadata = MetaData()
            for model in [*self.shared, *self.tables]:
                model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
            self._metadata = metadata
        return self._metadata

    @functools.cached_property
    def lock_key(self) -> int:
        """The PostgreSQL advisory lock an upgrade of this service's database holds (a signed 64-bit key)."""
        import hashlib

        return int.from_bytes(hashlib.sha256(f"danbao.migrations.{self.service}".encode()).digest()[:8], "big", signed=True)


from shared.migrations.runner import (  # noqa: E402 - the runner needs ServiceSchema
    SchemaRefused,
    SchemaStatus,
    database_differences,
    database_status,
    differences,
    read_status,
    upgrade,
    upgrade_database,
)

__all__ = ["HERE", "SchemaRefused", "SchemaStatus", "ServiceSchema", "database_differences", "database_status",
           "differences", "platform_tables", "read_status", "upgrade", "upgrade_database"]
