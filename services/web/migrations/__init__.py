"""The web edge's schema: its read models and the alembic revisions that make them (the files beside this one).

``danbao db upgrade --service web`` runs them; the edge runs them itself at start-up when
``DANBAO_DB_UPGRADE_AT_START`` allows it. A new revision: ``danbao db revision --service web -m "…"``."""

from __future__ import annotations

from pathlib import Path

from services.web.store import TABLES
from shared.authority import AUTHORITY_TABLES
from shared.messaging import MESSAGING_TABLES
from shared.migrations import ServiceSchema

# Its runtime keeps the messaging and authority tables, and no durable timers.
SCHEMA = ServiceSchema("web", TABLES, Path(__file__).resolve().parent, shared=[*MESSAGING_TABLES, *AUTHORITY_TABLES])
