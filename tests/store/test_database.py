"""The database wrapper under concurrency: health probes and gauges never stall the event loop."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, select, update

from shared.db import Database, fetch_one, insert_rows, run, run_in
from shared.messaging import InboxMessage

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


async def _write(db: Database, n: int) -> None:
    async with db.transaction() as session:
        await insert_rows(session, InboxMessage, [dict(
            consumer="test", message_id=f"m-{n}", topic="t", partition=0, offset=n, type=None,
            outcome="processed", received_at=T0)])


async def test_health_probes_interleaved_with_writes_never_block_the_loop(db: Database) -> None:
    """A probe that held SQLite's write lock while its connection closed (which yields to the
    loop) made the next writer wait synchronously on the lock: the whole process froze until
    the busy timeout, then the write failed with "database is locked"."""
    started = time.monotonic()
    for n in range(20):
        results = await asyncio.gather(db.ping(), _write(db, n), db.ping(), _write(db, 100 + n))
        assert results[0] is True and results[2] is True
    assert time.monotonic() - started < 10  # a single stall lasts the whole busy timeout (30 s)


async def test_core_statements_give_the_same_rows_and_defaults_on_every_backend(db: Database) -> None:
    """On SQLite, shared.db.run executes prebuilt statements on the sqlite3 cursor itself; what
    comes back (types, attributes, row counts, scalar column defaults) must match SQLAlchemy's."""
    import gc

    from sqlalchemy import bindparam, insert, select, update

    from shared.statements import _DIRECT, run
    from shared.messaging import OutboxMessage

    outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
    rows = [dict(event_id=f"e-{n}", topic="t", key=None, type="x", payload=b"{}", created_at=T0) for n in range(3)]
    async with db.transaction() as session:
        await insert_rows(session, OutboxMessage, rows)  # no headers given: the column default applies
        pending = select(outbox.c.id, outbox.c.event_id, outbox.c.headers, outbox.c.created_at, outbox.c.published_at) \
            .where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(bindparam("limit"))
        found = await run(session, pending, {"limit": 2}, fetch="all")
        assert [(r.event_id, r.headers, r.published_at) for r in found] == [("e-0", "{}", None), ("e-1", "{}", None)]
        assert found[0].created_at.replace(tzinfo=timezone.utc) == T0
        assert found[0][1] == "e-0" and found[0]._mapping["event_id"] == "e-0"
        mark = update(outbox).where(outbox.c.event_id == bindparam("e")).values(published_at=bindparam("at"))
        assert await run(session, mark, {"e": "e-2", "at": T0}) == 1
        assert await run(session, mark, {"e": "nobody", "at": T0}) == 0
        first = await run(session, pending, {"limit": 5}, fetch="first")
        assert first.event_id == "e-0"
        assert await run(session, select(outbox.c.id).where(outbox.c.event_id == "none"), fetch="first") is None
        before = len(_DIRECT)
        for n in range(50):  # a statement built per call is not kept
            await run(session, insert(outbox), dict(event_id=f"f-{n}", topic="t", type="x", payload=b"{}", created_at=T0))
        gc.collect()
        assert len(_DIRECT) <= before + 1


@pytest.mark.parametrize("count", [1, 7, 8, 9, 33, 600])
async def test_in_lists_of_any_length_find_exactly_the_rows_listed(db: Database, count: int) -> None:
    """IN lists are padded to a few fixed lengths (compiled once each): the padding must neither
    add rows nor drop any, for reads and for updates."""
    async with db.transaction() as session:
        await insert_rows(session, InboxMessage, [dict(
            consumer="c", message_id=f"m-{n}", topic="t", partition=0, offset=n, type=None,
            outcome="processed", received_at=T0) for n in range(700)])
    wanted = [f"m-{n}" for n in range(0, 2 * count, 2)] + ["missing"]
    async with db.transaction() as session:
        found = await run_in(session, "test-seen", _seen, wanted, {"consumer": "c"}, fetch="all")
        changed = await run_in(session, "test-mark", _mark, wanted, {"outcome": "replayed"})
    expected = {f"m-{n}" for n in range(0, 2 * count, 2) if n < 700}
    assert {row[0] for row in found} == expected
    assert changed == len(expected)
    async with db.transaction() as session:
        rows = await run(session, select(_INBOX.c.message_id).where(_INBOX.c.outcome == "replayed"), fetch="all")
    assert {row[0] for row in rows} == expected


async def test_in_lists_longer_than_the_largest_length_run_in_parts(db: Database) -> None:
    async with db.transaction() as session:
        await insert_rows(session, InboxMessage, [dict(
            consumer="c", message_id=f"m-{n}", topic="t", partition=0, offset=n, type=None,
            outcome="processed", received_at=T0) for n in range(5000)])
    wanted = [f"m-{n}" for n in range(0, 10000, 2)]
    async with db.transaction() as session:
        found = await run_in(session, "test-seen", _seen, wanted, {"consumer": "c"}, fetch="all")
        changed = await run_in(session, "test-mark", _mark, wanted, {"outcome": "replayed"})
    assert {row[0] for row in found} == {f"m-{n}" for n in range(0, 5000, 2)} and changed == 2500


_INBOX = InboxMessage.__table__  # type: ignore[attr-defined]


def _seen(ids: list[Any]) -> Any:
    return select(_INBOX.c.message_id).where(_INBOX.c.consumer == bindparam("consumer"), _INBOX.c.message_id.in_(ids))


def _mark(ids: list[Any]) -> Any:
    return update(_INBOX).where(_INBOX.c.consumer == "c", _INBOX.c.message_id.in_(ids)).values(outcome=bindparam("outcome"))


async def test_core_transactions_commit_roll_back_and_share_the_lock_with_orm_ones(db: Database) -> None:
    """``core()`` (the relay's path: on SQLite the process's own sqlite3 connection) sees and is
    seen by ordinary transactions, undoes everything on an error, and never runs beside one."""
    await _write(db, 1)
    async with db.core() as tx:
        assert await fetch_one(tx, InboxMessage, consumer="test", message_id="m-1") is not None
        await insert_rows(tx, InboxMessage, [dict(consumer="test", message_id="m-core", topic="t", partition=0, offset=2,
                                                   type=None, outcome="processed", received_at=T0)])
    with pytest.raises(RuntimeError):
        async with db.core() as tx:
            await insert_rows(tx, InboxMessage, [dict(consumer="test", message_id="m-undone", topic="t", partition=0,
                                                       offset=3, type=None, outcome="processed", received_at=T0)])
            raise RuntimeError("after writing")
    results = await asyncio.gather(*(_write(db, 10 + n) for n in range(5)), *(_core_count(db) for _ in range(5)))
    assert all(isinstance(r, int) for r in results[5:])
    async with db.transaction() as session:
        ids = {row[0] for row in await run(session, select(_INBOX.c.message_id), fetch="all")}
    assert "m-core" in ids and "m-undone" not in ids and {f"m-{10 + n}" for n in range(5)} <= ids


async def _core_count(db: Database) -> int:
    async with db.core() as tx:
        return len(await run(tx, select(_INBOX.c.message_id), fetch="all"))
