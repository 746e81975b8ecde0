"""The pipelined outbox relay: batches in flight while the broker acknowledges, marked in order; a failed send
stops the pipeline and what followed it is published again, never lost (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from sqlmodel import select

from shared.db import Database, insert_rows
from shared.messaging import OutboxMessage
from shared.relay import OutboxRelay


async def _commit(db: Database, numbers: range) -> None:
    """Outbox rows as a service's transaction leaves them: key K-(n % 3), payload the number."""
    now = datetime.now(timezone.utc)
    async with db.transaction() as session:
        await insert_rows(session, OutboxMessage, [dict(
            event_id=f"00000000-0000-0000-0000-{n:012d}", topic="danbao.test.events", key=f"K-{n % 3}", type="test.event",
            payload=json.dumps({"n": n}).encode(), headers="{}", created_at=now) for n in numbers])


async def _unmarked(db: Database) -> list[int]:
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.published_at == None))).all()  # noqa: E711
    return sorted(json.loads(r.payload)["n"] for r in rows)


class Broker:
    """Acknowledges each send a moment later (as acks=all does), in the order sent; ``fail`` names the numbers
    whose first send fails. With ``hold_until`` the first acknowledgements wait until that many sends are
    unacknowledged at once (or a second has passed), so a relay that pipelines is seen doing it however slow
    the database is, and one that waits batch by batch never gets there."""

    def __init__(self, fail: set[int] | None = None, hold_until: int | None = None) -> None:
        self.sent: list[int] = []
        self.fail = set(fail or ())
        self.most_in_flight = 0
        self._unacked = 0
        self._hold_until = hold_until
        self._held: list[Any] = []

    async def publish(self, row: Any) -> asyncio.Future[None]:
        n = json.loads(row.payload)["n"]
        self.sent.append(n)
        loop = asyncio.get_running_loop()
        ack: asyncio.Future[None] = loop.create_future()
        self._unacked += 1
        self.most_in_flight = max(self.most_in_flight, self._unacked)

        def answer() -> None:
            self._unacked -= 1
            if n in self.fail:
                self.fail.discard(n)
                ack.set_exception(ConnectionError(f"the broker did not take {n}"))
            else:
                ack.set_result(None)

        if self._hold_until is None:
            loop.call_later(0.02, answer)
            return ack
        if not self._held:
            loop.call_later(1.0, self._release)  # the relay never got that many in flight
        self._held.append(answer)
        if self._unacked >= self._hold_until:
            self._release()
        return ack

    def _release(self) -> None:
        if self._hold_until is None:
            return
        self._hold_until = None
        for answer in self._held:
            asyncio.get_running_loop().call_later(0.02, answer)
        self._held.clear()


async def _run_until(relay: OutboxRelay, done: Any, timeout: float = 20.0) -> None:
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(timeout):
            while not await done():
                await asyncio.sleep(0.02)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)


async def test_batches_go_out_while_earlier_ones_are_acknowledged_and_are_marked_in_order(db: Database) -> None:
    await _commit(db, range(0, 40))
    broker = Broker(hold_until=11)
    relay = OutboxRelay(db, broker.publish, name="test", owner="a", batch_size=10, depth=3, poll_seconds=0.05)
    commits: list[asyncio.Task[None]] = []

    async def all_marked() -> bool:
        if not commits:  # rows committed while the relay runs are picked up too (a commit wakes it)
            commits.append(asyncio.create_task(_commit(db, range(40, 60))))
            await commits[0]
            relay.wake()
        return await _unmarked(db) == []

    await _run_until(relay, all_marked)
    assert broker.sent == list(range(60))  # each once, in the outbox's order
    assert relay.published == 60
    assert broker.most_in_flight > 10  # more than one batch was in flight: the relay did not wait batch by batch


async def test_a_failed_send_stops_the_pipeline_and_what_followed_is_sent_again_not_lost(db: Database) -> None:
    await _commit(db, range(0, 30))
    broker = Broker(fail={12})  # in the second batch
    relay = OutboxRelay(db, broker.publish, name="test", owner="a", batch_size=10, depth=3, poll_seconds=0.05)

    async def all_marked() -> bool:
        return await _unmarked(db) == []

    await _run_until(relay, all_marked)
    first_sends = broker.sent[:30]
    assert first_sends == list(range(30))
    again = broker.sent[30:]
    # Nothing from the failed batch on was marked: it and every later batch go again, in order; the first batch does not.
    assert again == list(range(10, 30))
    assert relay.published == 30  # every row marked once
    for key in ("K-0", "K-1", "K-2"):  # per key, the last copy of each event comes in the outbox's order
        last = {n: i for i, n in enumerate(broker.sent) if f"K-{n % 3}" == key}
        assert sorted(last, key=last.__getitem__) == sorted(last)


async def test_relay_once_still_publishes_one_batch_and_marks_it(db: Database) -> None:
    await _commit(db, range(0, 5))
    broker = Broker()
    relay = OutboxRelay(db, broker.publish, name="test", owner="a", batch_size=3)
    assert await relay.relay_once() == 3
    assert await _unmarked(db) == [3, 4]
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 0
    assert broker.sent == [0, 1, 2, 3, 4]
