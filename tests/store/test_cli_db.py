"""``danbao db``: upgrade, current, check and revision, on SQLite and PostgreSQL; and several upgrades started at
once on one database, as instances or jobs starting together would."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ops import cli_db
from ops.cli import app
from shared.db import Database
from shared.migrations import ServiceSchema, database_differences, upgrade_database
from tests.conftest import BACKENDS, create_pg_database, drop_pg_database
from tests.release import OWNERS, schema_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Each service's database, empty, named in the environment as the services and the deploy job name them.
    (The tests are not coroutines: the commands run their own event loop.)"""
    monkeypatch.setenv("DANBAO_DATA_DIR", str(tmp_path / "data"))
    urls = {s: f"sqlite:///{tmp_path / f'{s}.db'}" if request.param == "sqlite" else asyncio.run(create_pg_database())
            for s in OWNERS}
    for service, url in urls.items():
        monkeypatch.setenv(f"DANBAO_{service.upper()}_DATABASE_URL", url)
    yield urls
    if request.param == "postgres":
        for url in urls.values():
            asyncio.run(drop_pg_database(url))


def danbao(*args: str) -> tuple[int, str]:
    """Exit code and what it printed, lines unwrapped."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_check_fails_until_upgrade_brings_every_database_to_its_code(databases: dict[str, str]) -> None:
    code, out = danbao("db", "check")
    assert code == 1 and "payments: empty, the code needs 0003: run `danbao db upgrade --service payments`" in out
    code, out = danbao("db", "upgrade")
    assert code == 2 and "name one --service, or --all" in out
    code, out = danbao("db", "upgrade", "--service", "escrow")
    assert code == 0 and "escrow: upgraded from an empty database: 0001 -> 0002" in out
    code, out = danbao("db", "check")
    assert code == 1 and "escrow: at 0002, the code's revision" in out and "onboarding: empty" in out
    code, out = danbao("db", "upgrade", "--all")
    assert code == 0 and "escrow: already at 0002" in out and "notifications: upgraded from an empty database: 0001" in out
    assert "web: upgraded from an empty database: 0001" in out
    assert danbao("db", "check")[0] == 0
    code, out = danbao("db", "current", "--service", "payments")
    assert code == 0 and "payments" in out and "current" in out and "0003" in out
    assert danbao("db", "check", "--service", "nobody")[0] == 2


def test_check_fails_on_a_database_at_its_revision_that_differs_from_the_models(databases: dict[str, str]) -> None:
    assert danbao("db", "upgrade", "--all")[0] == 0

    async def drop_an_index() -> None:
        database = Database(databases["disputes"])
        try:
            async with database.transaction() as session:
                await session.exec(sa.text("DROP INDEX ix_dispute_case_merchant_id"))  # type: ignore[call-overload]
        finally:
            await database.dispose()

    asyncio.run(drop_an_index())
    code, out = danbao("db", "check", "--service", "disputes")
    assert code == 1 and "disputes: at 0002, yet differs from the models: add_index dispute_case.ix_dispute_case_merchant_id" in out


def test_upgrades_started_together_on_one_database_take_turns(databases: dict[str, str]) -> None:
    """Four processes upgrade payments' empty database at once: one migrates, the others wait for it and
    find nothing left; none fails (on PostgreSQL a CREATE TABLE race ends in a unique-key error without the lock)."""
    processes = [subprocess.Popen([sys.executable, "-m", "ops.cli", "db", "upgrade", "--service", "payments"], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [(p.wait(timeout=120), p.stdout.read() if p.stdout else "") for p in processes]
    assert [code for code, _ in outputs] == [0, 0, 0, 0], outputs
    said = sorted("upgraded from an empty database" in out for _, out in outputs)
    assert said == [False, False, False, True], outputs
    assert all("already at 0003" in out for _, out in outputs if "upgraded from" not in out)
    assert danbao("db", "check", "--service", "payments")[0] == 0


def test_revision_writes_what_a_model_gained_and_it_upgrades(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, databases: dict[str, str]) -> None:
    """The developer's path: a model gains a column, `danbao db revision` writes the next revision from it, and
    that revision brings a database to the models (here in a copy of payments' revisions)."""
    shutil.copytree(schema_of("payments").versions, tmp_path / "versions")
    schema = ServiceSchema("payments", schema_of("payments").tables, tmp_path / "versions")
    changed = sa.MetaData()
    for table in schema.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["payout"].append_column(sa.Column("memo", sa.String(80), nullable=True))
    schema._metadata = changed
    monkeypatch.setattr(cli_db, "_schema", lambda service: schema)

    code, out = danbao("db", "revision", "--service", "payments", "-m", "payout memo")
    written = tmp_path / "versions" / "0004_payout_memo.py"
    assert code == 0 and written.exists(), out
    text = written.read_text()
    assert "revision: str = '0004'" in text and "down_revision: str | None = '0003'" in text
    assert "batch_op.add_column(sa.Column('memo', sa.String(length=80), nullable=True))" in text

    async def upgrade_and_compare() -> tuple[list[str], list[object]]:
        database = Database(databases["payments"])
        try:
            return (await upgrade_database(database, schema)).applied, await database_differences(database, schema)
        finally:
            await database.dispose()

    assert asyncio.run(upgrade_and_compare()) == (["0001", "0002", "0003", "0004"], [])
