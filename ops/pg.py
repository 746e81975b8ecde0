"""Fresh PostgreSQL databases for runs that want the production store (the bench, the tests): one per service,
created on a server the caller names and dropped afterwards."""

from __future__ import annotations

import uuid

import asyncpg


def _server_of(url: str) -> str:
    return url.rsplit("/", 1)[0]


async def create_database(server_url: str, prefix: str = "danbao_t") -> str:
    """A new, empty database on the server of ``server_url`` (any database URL there); returns its plain URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"{_server_of(server_url)}/{name}"


async def drop_database(server_url: str, url: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await connection.close()


async def service_databases(server_url: str, services: tuple[str, ...], prefix: str = "danbao_t") -> dict[str, str]:
    """``DANBAO_<SERVICE>_DATABASE_URL`` for each service: a fresh database each."""
    return {f"DANBAO_{service.upper()}_DATABASE_URL": await create_database(server_url, prefix) for service in services}
