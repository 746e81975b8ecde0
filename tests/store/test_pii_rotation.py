"""PII key rotation on onboarding's real tables (SQLite, and PostgreSQL if configured): values written
under k1, the key rotated to k2, everything re-encrypted in batches, then k1 dropped."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from ops.cli import app
from services.onboarding import store
from services.onboarding.domain import Application
from shared.contracts import onboarding
from shared.db import Database
from shared.pii import FieldCipher, key_id_of
from shared.pii_store import key_counts, reencrypt
from tests.factories import apply_for_merchant
from tests.unit.test_onboarding_domain import CODE, NOW

K0, K1, K2 = os.urandom(32), os.urandom(32), os.urandom(32)
OLD = FieldCipher({"k1": K1}, "k1")
ROTATED = FieldCipher({"k2": K2, "k1": K1}, "k2")  # the new key first: it encrypts, k1 still decrypts
NEW_ONLY = FieldCipher({"k2": K2}, "k2")
COLUMNS = [f"{name}_enc" for name in store.PII_FIELDS]


def _submitted(n: int) -> onboarding.ApplyForMerchant:
    document = apply_for_merchant(f"M-R-{n}", CODE, phone=f"1381234{n:04d}", email=f"finance{n}@example.com",
                                  settlement_account=f"62220212345678{n:05d}", seal=False)
    return onboarding.COMMANDS.parse(document).data


async def _write(db: Database, cipher: FieldCipher, numbers: range) -> None:
    async with db.transaction() as session:
        for n in numbers:
            submitted = _submitted(n)
            application = Application(
                merchant_id=submitted.merchant_id, merchant_type=submitted.merchant_type, legal_name=submitted.legal_name,
                credit_code=submitted.credit_code, industry=submitted.industry, has_licence=True, email_masked="f***@example.com")
            store.save(session, None, application, NOW, submitted, cipher)


async def _stored(db: Database) -> dict[str, dict[str, str]]:
    async with db.transaction() as session:
        rows = (await session.exec(select(store.ApplicationRow))).all()
        return {row.merchant_id: {c: getattr(row, c) for c in COLUMNS} for row in rows}


def _plain(merchant_id: str, column: str, value: str, cipher: FieldCipher) -> str:
    return cipher.decrypt(value, store.pii_context(merchant_id, column.removesuffix("_enc")))


def _original(merchant_id: str, column: str) -> str:
    return str(getattr(_submitted(int(merchant_id.rsplit("-", 1)[1])), column.removesuffix("_enc")))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.create_tables(store.TABLES)
    yield database
    await database.dispose()


async def test_every_value_moves_to_the_new_key_once_and_the_old_key_can_then_go(db: Database) -> None:
    await _write(db, OLD, range(5))
    before = await key_counts(db, store.ENCRYPTED_COLUMNS, ROTATED)
    assert before == {f"merchant_application.{c}": {"k1": 5, "k2": 0} for c in COLUMNS}

    report = await reencrypt(db, store.ENCRYPTED_COLUMNS, ROTATED, batch_size=2)
    assert (report.total, report.reencrypted, report.batches, report.unreadable) == (25, {"k1": 25}, 3, [])
    after = await key_counts(db, store.ENCRYPTED_COLUMNS, ROTATED)
    assert after == {f"merchant_application.{c}": {"k1": 0, "k2": 5} for c in COLUMNS}
    stored = await _stored(db)
    assert len(stored) == 5
    for merchant_id, values in stored.items():
        for column, value in values.items():
            assert key_id_of(value) == "k2"
            assert _plain(merchant_id, column, value, NEW_ONLY) == _original(merchant_id, column)  # k1 is gone

    again = await reencrypt(db, store.ENCRYPTED_COLUMNS, ROTATED, batch_size=2)
    assert (again.total, again.batches) == (0, 0)
    assert await _stored(db) == stored  # not even re-sealed: the same ciphertexts
    assert await key_counts(db, store.ENCRYPTED_COLUMNS, NEW_ONLY) == {
        f"merchant_application.{c}": {"k2": 5} for c in COLUMNS}


async def test_an_interrupted_run_keeps_its_finished_batches_and_running_again_completes(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await _write(db, OLD, range(5))
    rotate, calls = FieldCipher.rotate, []

    def crash_in_the_second_batch(self: FieldCipher, stored: str, context: str) -> str:
        calls.append(context)
        if len(calls) == 12:  # batch 1 is rows 0-1 (10 values); this is row 2's second value
            raise KeyboardInterrupt
        return rotate(self, stored, context)

    monkeypatch.setattr(FieldCipher, "rotate", crash_in_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        await reencrypt(db, store.ENCRYPTED_COLUMNS, ROTATED, batch_size=2)
    monkeypatch.setattr(FieldCipher, "rotate", rotate)
    halfway = await key_counts(db, store.ENCRYPTED_COLUMNS, ROTATED)
    assert halfway == {f"merchant_application.{c}": {"k1": 3, "k2": 2} for c in COLUMNS}
    assert {m for m, values in (await _stored(db)).items() if key_id_of(values[COLUMNS[0]]) == "k2"} == {"M-R-0", "M-R-1"}

    report = await reencrypt(db, store.ENCRYPTED_COLUMNS, ROTATED, batch_size=2)
    assert report.total == 15
    for merchant_id, values in (await _stored(db)).items():
        assert all(_plain(merchant_id, c, v, NEW_ONLY) == _original(merchant_id, c) for c, v in values.items())


async def test_a_dry_run_writes_nothing_and_values_no_key_opens_are_reported_and_kept(db: Database) -> None:
    await _write(db, OLD, range(3))
    await _write(db, FieldCipher({"k0": K0}, "k0"), range(3, 4))  # a key nobody configured any more
    untouched = await _stored(db)

    dry = await reencrypt(db, store.ENCRYPTED_COLUMNS, ROTATED, batch_size=2, dry_run=True)
    assert (dry.total, sorted(dry.unreadable)) == (15, sorted(f"merchant_application.{c} M-R-3" for c in COLUMNS))
    assert await _stored(db) == untouched

    report = await reencrypt(db, store.ENCRYPTED_COLUMNS, ROTATED, batch_size=2)
    assert report.total == 15 and len(report.unreadable) == 5
    stored = await _stored(db)
    assert stored["M-R-3"] == untouched["M-R-3"]
    assert await key_counts(db, store.ENCRYPTED_COLUMNS, ROTATED) == {
        f"merchant_application.{c}": {"k2": 3, "k1": 0, "k0": 1} for c in COLUMNS}


def _danbao(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _keys(*keys: tuple[str, bytes]) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in keys)


def test_the_danbao_pii_commands_rotate_onboarding_to_the_first_listed_key(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def setup() -> None:
        database = Database(database_url)
        await database.create_tables(store.TABLES)
        await _write(database, OLD, range(3))
        await database.dispose()

    asyncio.run(setup())
    monkeypatch.setenv("DANBAO_ONBOARDING_DATABASE_URL", database_url)
    monkeypatch.delenv("DANBAO_ONBOARDING_PII_CURRENT_KEY_ID", raising=False)
    monkeypatch.setenv("DANBAO_ONBOARDING_PII_KEYS", _keys(("k2", K2), ("k1", K1)))

    status = _danbao("pii", "status", "--service", "onboarding", "--check")
    assert status.exit_code == 1 and "15 values under keys other than k2" in status.output

    dry = _danbao("pii", "reencrypt", "--service", "onboarding", "--dry-run")
    assert dry.exit_code == 0 and "would re-encrypt 15 values under k2 (15 from k1)" in dry.output
    assert _danbao("pii", "status", "--service", "onboarding", "--check").exit_code == 1

    done = _danbao("pii", "reencrypt", "--service", "onboarding", "--batch", "2")
    assert done.exit_code == 0, done.output
    assert "values re-encrypted under k2: 0/15" in done.output  # its progress, then the end of it
    assert re.search(r"^values re-encrypted under k2: done 15/15 in \d+:\d\d:\d\d \(batch 2\)$", done.output, re.M)
    assert "re-encrypted 15 values under k2 (15 from k1)" in done.output
    assert _danbao("pii", "reencrypt", "--service", "onboarding").output.count("re-encrypted 0 values under k2") == 1

    monkeypatch.setenv("DANBAO_ONBOARDING_PII_KEYS", _keys(("k2", K2)))  # k1 removed
    status = _danbao("pii", "status", "--service", "onboarding", "--check")
    assert status.exit_code == 0 and "every value is under k2" in status.output

    assert _danbao("pii", "status", "--service", "payments").exit_code == 2  # keeps no encrypted columns
    assert _danbao("pii", "status", "--service", "nowhere").exit_code == 2
