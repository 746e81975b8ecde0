"""Operator tools read a service's own database, found the way the service finds it."""

from __future__ import annotations

from shared.db import Database, sqlite_file_url
from shared.settings import PlatformSettings, ServiceSettings


def service_database(service: str, settings: ServiceSettings) -> Database:
    return Database(settings.database_url or sqlite_file_url(PlatformSettings().data_dir, service))
