"""A service's start against its database: it upgrades it only when allowed (dev and test mode by default, not
production); on a database behind its code it refuses to run, says why on /health/ready, and starts once the
database is upgraded; instances started together on one empty database all start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from services.escrow.app import build as build_escrow
from services.escrow.config import EscrowSettings
from services.payments.app import build as build_payments
from services.payments.config import PaymentsSettings
from services.web.app import build as build_web
from services.web.config import WebSettings
from shared.authority import DEV_ROSTER, RosterEntry
from shared.db import Database
from shared.migrations import SchemaRefused, database_status, upgrade_database
from shared.migrations.runner import upgrade
from shared.settings import PlatformSettings
from tests.release import schema_of


def test_services_upgrade_at_start_in_dev_and_test_mode_and_not_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DANBAO_DB_UPGRADE_AT_START", raising=False)
    assert PlatformSettings(mode="dev").upgrades_db_at_start and PlatformSettings(mode="test").upgrades_db_at_start
    assert not PlatformSettings(mode="production").upgrades_db_at_start
    monkeypatch.setenv("DANBAO_DB_UPGRADE_AT_START", "true")
    assert PlatformSettings(mode="production").upgrades_db_at_start
    monkeypatch.setenv("DANBAO_DB_UPGRADE_AT_START", "false")
    assert not PlatformSettings(mode="test").upgrades_db_at_start


async def _at_baseline(url: str) -> None:
    database = Database(url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: upgrade(sync, schema_of("escrow"), destination="0001"))
    finally:
        await database.dispose()


async def test_a_service_refuses_a_database_behind_its_code_and_says_why(database_url: str, tmp_path: Path) -> None:
    await _at_baseline(database_url)
    platform = PlatformSettings(mode="test", data_dir=tmp_path, db_upgrade_at_start=False, kafka_bootstrap="127.0.0.1:1")
    runtime = build_escrow(EscrowSettings(database_url=database_url), platform)
    try:
        with pytest.raises(SchemaRefused, match=r"escrow: refusing to run on a database at 0001, behind the code's 0002: "
                                                r"upgrade it with `danbao db upgrade --service escrow`"):
            await runtime.start_storage()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.asgi()), base_url="http://escrow") as http:
            ready = await http.get("/health/ready")
            live = await http.get("/health/live")
        assert live.status_code == 200
        assert ready.status_code == 503
        body = ready.json()
        assert (body["status"], body["database"], body["schema"]) == ("not ready", True, "refused")
        assert "behind the code's 0002" in body["reason"]
        assert (await database_status(runtime.db, schema_of("escrow"))).revision == "0001"  # left as it was
    finally:
        await runtime.stop()
    allowed = build_escrow(EscrowSettings(database_url=database_url), platform.model_copy(update={"db_upgrade_at_start": True}))
    try:
        await allowed.start_storage()  # told to upgrade at start: it does
        assert (await database_status(allowed.db, schema_of("escrow"))).ok and allowed.schema_gate.problem is None
    finally:
        await allowed.stop()


async def test_a_waiting_service_goes_on_once_its_database_is_upgraded(database_url: str, tmp_path: Path) -> None:
    await _at_baseline(database_url)
    platform = PlatformSettings(mode="test", data_dir=tmp_path, db_upgrade_at_start=False, db_wait_poll_seconds=0.05)
    runtime = build_escrow(EscrowSettings(database_url=database_url), platform)
    try:
        await runtime.open_storage()  # what the app does at start-up: no error
        waiting = asyncio.ensure_future(runtime.storage_ready())  # what holds the subscribers back
        await asyncio.sleep(0.3)
        assert not waiting.done() and runtime.schema_gate.problem
        operator = Database(database_url)
        try:
            await upgrade_database(operator, schema_of("escrow"))  # `danbao db upgrade`, from elsewhere
        finally:
            await operator.dispose()
        await asyncio.wait_for(waiting, 10)
        assert runtime.schema_gate.problem is None and runtime._seeded
    finally:
        await runtime.stop()


async def test_instances_started_together_on_one_empty_database_all_start(database_url: str, tmp_path: Path) -> None:
    """Three payments instances at once (each its own thread and loop, as processes would be): one migrates, and
    the start-up seeds (the development roster, merchants) go one instance at a time; none fails on a unique key."""
    platform = PlatformSettings(mode="test", data_dir=tmp_path)

    async def start() -> None:
        runtime = build_payments(PaymentsSettings(database_url=database_url), platform)
        try:
            await runtime.start_storage()
        finally:
            await runtime.stop()

    results = await asyncio.gather(*(asyncio.to_thread(asyncio.run, start()) for _ in range(3)), return_exceptions=True)
    assert [r for r in results if r is not None] == []
    database = Database(database_url)
    try:
        assert (await database_status(database, schema_of("payments"))).ok
        async with database.transaction() as session:
            roster = (await session.exec(select(RosterEntry))).all()
        assert len(roster) == sum(len(roles) for roles in DEV_ROSTER.values())
    finally:
        await database.dispose()



async def test_the_web_edge_refuses_a_database_behind_its_code_and_starts_once_it_is_upgraded(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web edge keeps its read models in a database of its own, with its own revisions: the same rule."""
    platform = PlatformSettings(mode="test", data_dir=tmp_path, db_upgrade_at_start=False, db_wait_poll_seconds=0.05,
                                kafka_bootstrap="127.0.0.1:1")
    edge = build_web(WebSettings(database_url=database_url), platform)
    runtime = edge.runtime
    try:
        with pytest.raises(SchemaRefused, match=r"web: refusing to run on a database empty, the code needs 0001"):
            await runtime.start_storage()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge.app()), base_url="http://web") as http:
            ready = await http.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["schema"] == "refused"
        assert "danbao db upgrade --service web" in ready.json()["reason"]

        started: list[bool] = []

        async def consuming() -> None:  # what follows once the database is at the code: seeds, broker, relay
            started.append(True)

        monkeypatch.setattr(runtime, "_start_consuming", consuming)
        waiting = asyncio.ensure_future(runtime._start_once_upgraded())
        await asyncio.sleep(0.3)
        assert not waiting.done() and started == []
        operator = Database(database_url)
        try:
            await upgrade_database(operator, schema_of("web"))
        finally:
            await operator.dispose()
        await asyncio.wait_for(waiting, 10)
        assert started == [True] and runtime.schema_gate.problem is None
    finally:
        await runtime.db.dispose()
