"""A database release c1c2458 made and used (tests/fixtures/release_c1c2458) upgraded to today's schema, on
SQLite and PostgreSQL: adopted, upgraded, every row kept, the new columns filled for the rows there, and the
service runs on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from services.escrow.app import build as build_escrow
from services.escrow.config import EscrowSettings
from services.escrow.store import HoldRow
from shared import topics
from shared.db import Database
from shared.migrations import SchemaRefused, database_differences, database_status, upgrade_database
from tests.factories import confirm_receipt, encode
from tests.handlers.harness import published, serving
from tests.release import SERVICES, every_row, load_release, lost_or_changed, schema_of


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_of_release_c1c2458_upgrades_without_losing_a_row(database_url: str, service: str) -> None:
    await load_release(service, database_url)
    before = await every_row(database_url)
    assert sum(map(len, before.values())) > 20  # the fixture holds a release's use, not an empty schema
    schema, database = schema_of(service), Database(database_url)
    try:
        status = await database_status(database, schema)
        assert (status.state, status.ok) == ("unversioned", False)
        result = await upgrade_database(database, schema)
        assert result.stamped == "0001"
        assert (await database_status(database, schema)).ok
        assert await database_differences(database, schema) == []
    finally:
        await database.dispose()
    after = await every_row(database_url)
    assert lost_or_changed(before, after) == []
    assert {t: len(r) for t, r in after.items()} == {t: len(before.get(t, {})) for t in after}  # nothing added either
    if service == "payments":  # the one new NOT NULL column: no payout was held by a review before
        assert after["payout"] and {row["reserved"] for row in after["payout"].values()} == {False}
    if service == "disputes":  # before orders without the guarantee, every order disputes knew was guaranteed
        assert after["dispute_order"] and {row["guaranteed"] for row in after["dispute_order"].values()} == {True}


async def test_escrow_upgraded_from_the_release_releases_a_hold_the_release_took(database_url: str, data_dir: Path) -> None:
    """The case that made escrow fail every batch: a database of the release, the service of today. The order the
    release left shipped (O-OLD-0002) is confirmed by its buyer and released, less the release's fee."""
    await load_release("escrow", database_url)
    runtime = build_escrow(EscrowSettings(database_url=database_url))
    async with serving(runtime) as (runtime, broker):  # test mode: it upgrades its database at start-up
        await broker.publish(encode(confirm_receipt("O-OLD-0002", buyer="B-2001")), topics.commands("escrow"), key=b"O-OLD-0002")
        released = await published(runtime, topics.events("escrow"), "escrow.hold.released")
        async with runtime.db.transaction() as session:
            hold = (await session.exec(select(HoldRow).where(HoldRow.order_id == "O-OLD-0002"))).one()
    assert [(m["data"]["order_id"], m["data"]["fee"]) for m in released] == [("O-OLD-0002", 77)]
    assert (hold.status, hold.released, hold.refunded) == ("released", 12900, 0)


async def test_a_database_older_than_the_baseline_is_refused_with_what_it_lacks(database_url: str) -> None:
    await load_release("onboarding", database_url)
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await session.exec(text("DROP TABLE dead_letter"))  # type: ignore[call-overload]
        with pytest.raises(SchemaRefused, match=r"lacks part of the baseline .*: dead_letter\."):
            await upgrade_database(database, schema_of("onboarding"))
        assert (await database_status(database, schema_of("onboarding"))).state == "unversioned"  # nothing was done
    finally:
        await database.dispose()


async def test_a_database_made_before_the_inbox_index_gains_it_when_adopted(database_url: str) -> None:
    """Databases made before retention had no index on the inbox's ``received_at``: the adoption creates it."""
    await load_release("notifications", database_url)
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await session.exec(text("DROP INDEX ix_inbox_received"))  # type: ignore[call-overload]
        assert (await upgrade_database(database, schema_of("notifications"))).stamped == "0001"
        assert await database_differences(database, schema_of("notifications")) == []
    finally:
        await database.dispose()
