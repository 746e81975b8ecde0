"""Shared fixtures: databases (SQLite always, PostgreSQL when DANBAO_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.pg import create_database, drop_database

POSTGRES_URL = os.environ.get("DANBAO_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
# The store production runs on, where the tests have it: integration modules that need a platform of their own
# settings run on it alone (each store's semantics are pinned by the store tests, and the shared platform runs on both).
PRODUCTION_STORE = ["postgres"] if POSTGRES_URL else ["sqlite"]


def _admin_url() -> str:
    assert POSTGRES_URL
    return POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://", 1)


async def create_pg_database() -> str:
    """A fresh, empty PostgreSQL database; returns its plain URL."""
    assert POSTGRES_URL
    return await create_database(POSTGRES_URL)


async def drop_pg_database(url: str) -> None:
    assert POSTGRES_URL
    await drop_database(POSTGRES_URL, url)


SHARED_ID = "shared-"  # the test id of a test on the shared platform of a store: ``[shared-sqlite]``


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` runs in two workers (pytest-xdist): the tests on the shared platforms (their id says
    ``shared-<store>``) go to one worker as one unit, longest first, and every other module to one worker as a
    unit, so no platform, shared or a module's own, is started twice. (pytest-xdist's own ``loadgroup`` cannot
    group here: it renames a test by a field pytest 9.2 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByPlatform(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "shared platforms" if f"[{SHARED_ID}" in nodeid else nodeid.split("::", 1)[0]

    return ByPlatform(config, log)


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DANBAO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DANBAO_MODE", "test")
    yield tmp_path
