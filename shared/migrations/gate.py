"""A service's start-up against its database's schema.

With ``DANBAO_DB_UPGRADE_AT_START`` (dev and test mode by default) the service upgrades its database itself,
under the runner's lock, so instances started together take turns. Otherwise (production) it only reads the
database's revision. Either way, a database it cannot run on (behind its code, made by a newer release, or
refused by the upgrade) stops nothing: the process keeps serving ``/health/live``, ``/health/ready`` answers
503 with the reason, the subscribers do not start, and the gate looks again every
``DANBAO_DB_WAIT_POLL_SECONDS`` until someone runs ``danbao db upgrade``; then the service starts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.migrations.runner import SchemaRefused, SchemaStatus, database_status, upgrade_database

if TYPE_CHECKING:
    from shared.db import Database
    from shared.migrations import ServiceSchema

log = logging.getLogger("danbao.migrations")


@dataclass
class SchemaGate:
    db: Database
    schema: ServiceSchema
    upgrade: bool
    poll_seconds: float = 5.0
    problem: str | None = "not looked at yet"  # why the service may not run on its database; None: it may
    _seen: str | None = None  # the database's state as last read

    @property
    def service(self) -> str:
        return self.schema.service

    def _refusal(self, status: SchemaStatus) -> str:
        return (f"{self.service}: refusing to run on a database {status.describe()}: upgrade it with "
                f"`danbao db upgrade --service {self.service}` (or start with DANBAO_DB_UPGRADE_AT_START=true); "
                "the service starts once it is upgraded")

    async def open(self) -> bool:
        """At start-up: upgrade (when allowed) or look. True when the service may run; otherwise ``problem`` says why."""
        if self.upgrade:
            try:
                result = await upgrade_database(self.db, self.schema)
            except SchemaRefused as exc:
                self.problem = f"{exc} (the upgrade at start-up was refused)"
            else:
                if result.applied or result.stamped:
                    log.info("%s", result.describe())
                self.problem = None
        else:
            status = await database_status(self.db, self.schema)
            self._seen = status.describe()
            self.problem = None if status.ok else self._refusal(status)
        if self.problem is not None:
            log.error("%s", self.problem)
        return self.problem is None

    async def wait(self) -> None:
        """Until the database is at the code's revision (someone upgraded it), looking every ``poll_seconds``."""
        while self.problem is not None:
            await asyncio.sleep(self.poll_seconds)
            try:
                status = await database_status(self.db, self.schema)
            except Exception as exc:  # noqa: BLE001 - the database may be down for a while; keep looking
                log.warning("%s: cannot read the database's revision (%s); looking again", self.service, exc)
                continue
            if status.ok:
                log.info("%s: the database is now %s; starting", self.service, status.describe())
                self.problem = None
            elif status.describe() != self._seen:  # changed, still not runnable: say so
                self._seen = status.describe()
                self.problem = self._refusal(status)
                log.error("%s", self.problem)
