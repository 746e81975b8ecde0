"""A service's start against its database: it upgrades it only when allowed (dev and test mode by default, not
production); on a database behind its code it refuses to run, says why on /health/ready, and starts once the
database is upgraded; instances started together on one empty database all start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from ops import issuers
from services.escrow.app import build as build_escrow
from services.escrow.config import EscrowSettings
from services.payments.app import build as build_payments
from services.payments.config import PaymentsSettings
from services.web import runtime as web_runtime
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


async def _upgrade(url: str, service: str) -> None:
    """`danbao db upgrade` as another process would run it (called in a thread of its own)."""
    operator = Database(url)
    try:
        await upgrade_database(operator, schema_of(service))
    finally:
        await operator.dispose()


async def test_a_service_refuses_a_database_behind_its_code_says_why_and_goes_on_once_it_is_upgraded(
        database_url: str, tmp_path: Path) -> None:
    await _at_baseline(database_url)
    platform = PlatformSettings(mode="test", data_dir=tmp_path, db_upgrade_at_start=False, db_wait_poll_seconds=0.05,
                                kafka_bootstrap="127.0.0.1:1")
    runtime = build_escrow(EscrowSettings(database_url=database_url), platform)
    try:
        with pytest.raises(SchemaRefused, match=r"escrow: refusing to run on a database at 0001, behind the code's 0002: "
                                                r"upgrade it with `danbao db upgrade --service escrow`"):
            await runtime.start_storage()  # a runtime driven without its app: refused at once
        opening = asyncio.ensure_future(runtime.open_storage())  # the app's start-up (behind /health/live): it waits
        await asyncio.sleep(0.3)
        assert not opening.done()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.asgi()), base_url="http://escrow") as http:
            ready = await http.get("/health/ready")
            live = await http.get("/health/live")
        assert live.status_code == 200 and ready.status_code == 503
        body = ready.json()
        assert (body["status"], body["database"], body["schema"]) == ("not ready", True, "refused")
        assert "starting: waiting for its database's upgrade" in body["reasons"]
        assert [r for r in body["reasons"] if "behind the code's 0002" in r and "danbao db upgrade --service escrow" in r]
        assert (await database_status(runtime.db, schema_of("escrow"))).revision == "0001"  # left as it was

        await asyncio.to_thread(asyncio.run, _upgrade(database_url, "escrow"))  # `danbao db upgrade`, from elsewhere
        await asyncio.wait_for(opening, 10)  # then it goes on: seeds, and the consumer would start
        assert runtime.schema_gate.problem is None and runtime.phase == "preparing the database"
    finally:
        await runtime.stop()


async def test_a_service_told_to_upgrade_at_start_does(database_url: str, tmp_path: Path) -> None:
    await _at_baseline(database_url)
    issuers.write(tmp_path)  # production mode wants the trusted issuers' keys and an encrypted broker connection
    platform = PlatformSettings(mode="production", data_dir=tmp_path, db_upgrade_at_start=True, kafka_allow_plaintext=True,
                                trusted_issuers_file=tmp_path / "danbao_trusted_issuers.json")
    runtime = build_escrow(EscrowSettings(database_url=database_url), platform)
    try:
        await runtime.start_storage()
        assert (await database_status(runtime.db, schema_of("escrow"))).ok and runtime.schema_gate.problem is None
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

        class Probe:  # the broker, reached
            async def stop(self) -> None:
                pass

        class Seeded(Exception):  # where the start goes once the database is at the code: seeds, broker, relay
            pass

        async def seed() -> None:
            raise Seeded

        async def reached(*args: object, **kwargs: object) -> Probe:
            return Probe()

        monkeypatch.setattr(web_runtime, "started_producer", reached)
        monkeypatch.setattr(runtime, "seed", seed)
        starting = asyncio.ensure_future(runtime.start())  # behind /health/live (shared/serving.py)
        await asyncio.sleep(0.3)
        assert not starting.done()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge.app()), base_url="http://web") as http:
            ready = await http.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["schema"] == "refused"
        assert [r for r in ready.json()["reasons"] if "danbao db upgrade --service web" in r]
        await asyncio.to_thread(asyncio.run, _upgrade(database_url, "web"))
        with pytest.raises(Seeded):
            await asyncio.wait_for(starting, 10)
        assert runtime.schema_gate.problem is None
    finally:
        await runtime.db.dispose()
