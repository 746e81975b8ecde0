"""Escrow' schema: its tables and the alembic revisions that make them (the files beside this one).

``danbao db upgrade --service escrow`` runs them; the service runs them itself at start-up when
``DANBAO_DB_UPGRADE_AT_START`` allows it. A new revision: ``danbao db revision --service escrow -m "…"``."""

from __future__ import annotations

from pathlib import Path

from services.escrow.store import TABLES
from shared.migrations import ServiceSchema

SCHEMA = ServiceSchema("escrow", TABLES, Path(__file__).resolve().parent)
