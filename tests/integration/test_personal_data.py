"""Personal data sealed at the edge, through the real broker and processes: distinctive ID number,
bank account, phone, e-mail, legal representative's name and webhook secret are submitted sealed
(an application, a bad application, a dead-lettered one, a contact, a webhook), and none of them
is found in plaintext on any topic, in any database or in any log the platform wrote."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from ops.kafka import read
from ops.platform import LocalPlatform
from services.simulators.registry import ACTIVE_2
from shared import topics
from tests.factories import apply_for_merchant, register_contact, register_webhook
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration

ID_NUMBER = "510107198506123718"  # GB 11643 check digit 8
BAD_ID_NUMBER = "510107198506123715"  # the same with a wrong check digit
BANK_CARD = "6228 4803 7731 2460 53"  # Luhn-valid, given with spaces
PHONE, CONTACT_PHONE = "15977312468", "15866420973"
EMAIL, CONTACT_EMAIL = "Ouyang.Mingyuan7731@Example.org", "Zhao.Contact8642@Example.net"
NAME = "欧阳明远"
WEBHOOK_SECRET = "whsec_Distinct7731SecretValue0042abcdefXYZ"


def _variants() -> list[bytes]:
    """Each value as given, without separators, in upper and lower case, and as JSON escapes it."""
    found: set[str] = set()
    for value in (ID_NUMBER, BAD_ID_NUMBER, BANK_CARD, PHONE, CONTACT_PHONE, EMAIL, CONTACT_EMAIL, NAME, WEBHOOK_SECRET):
        for form in (value, value.replace(" ", "")):
            found |= {form, form.lower(), form.upper()}
    encoded = {v.encode() for v in found}
    encoded |= {v.encode("unicode_escape").replace(b"\\u", b"\\\\u") for v in found if not v.isascii()}
    encoded |= {"".join(f"\\u{ord(c):04x}" for c in v).encode() for v in found if not v.isascii()}
    return sorted(encoded)


def _plaintext_in(blob: bytes) -> list[bytes]:
    return [v for v in _variants() if v in blob]


def _has(type_: str, **data: object):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


async def _postgres_rows(urls: list[str]) -> bytes:
    """Every row of every table of the services' PostgreSQL databases, as text."""
    import asyncpg

    dump = []
    for url in urls:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            tables = await connection.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            for (table,) in tables:
                dump += [row[0] for row in await connection.fetch(f'SELECT t::text FROM "{table}" t')]
        finally:
            await connection.close()
    return "\n".join(dump).encode()


async def test_no_personal_value_is_found_in_plaintext_on_a_topic_in_a_database_or_in_a_log(
        platform: LocalPlatform, kafka: Kafka) -> None:
    good, bad, unreadable = (f"M-PD-{uuid.uuid4().hex[:6]}" for _ in range(3))
    buyer, plain = f"B-PD-{uuid.uuid4().hex[:6]}", f"B-PD-{uuid.uuid4().hex[:6]}"
    personal = dict(legal_rep_name=NAME, legal_rep_id_number=ID_NUMBER, settlement_account=BANK_CARD, phone=PHONE, email=EMAIL)
    commands, notifications = topics.commands("onboarding"), topics.commands("notifications")
    await kafka.send(commands, apply_for_merchant(good, ACTIVE_2, legal_name="杭州绿盾科技有限公司", **personal), key=good)
    await kafka.send(commands, apply_for_merchant(bad, ACTIVE_2, **{**personal, "legal_rep_id_number": BAD_ID_NUMBER}), key=bad)
    await kafka.send(commands, apply_for_merchant(unreadable, ACTIVE_2, documents="none", **personal), key=unreadable)
    await kafka.send(notifications, register_contact("buyer", buyer, phone=CONTACT_PHONE, email=CONTACT_EMAIL), key=buyer)
    await kafka.send(notifications, register_webhook(good, "http://127.0.0.1:9/hook", WEBHOOK_SECRET), key=good)
    # Plaintext where a sealed value is required (a throwaway number, so the topics stay clean): refused.
    await kafka.send(notifications, register_contact("buyer", plain, seal=False, phone="13000000000"), key=plain)

    events = await kafka.read_until(topics.events("onboarding"), lambda ms: _has("onboarding.checks.completed", merchant_id=good)(ms)
                                    and _has("onboarding.command.rejected", aggregate_id=bad)(ms))
    rejection = next(m for m in events if of("onboarding.command.rejected", aggregate_id=bad)(m))["data"]
    assert rejection["reason"] == "invalid_fields" and rejection["detail"].startswith("legal_rep_id_number:")
    letters = await kafka.read_until(topics.dead_letters("onboarding"), lambda ms: any(m["data"]["source_key"] == unreadable for m in ms))
    assert next(m for m in letters if m["data"]["source_key"] == unreadable)["data"]["original_encoding"] == "sealed"
    told = await kafka.read_until(topics.events("notifications"), lambda ms: _has("notifications.contact.registered", party_id=buyer)(ms)
                                  and _has("notifications.webhook.registered", merchant_id=good)(ms)
                                  and _has("notifications.command.rejected", aggregate_id=plain)(ms)
                                  and _has("notifications.contact.registered", party_id=good, source="onboarding")(ms))
    refused = next(m for m in told if of("notifications.command.rejected", aggregate_id=plain)(m))["data"]
    assert refused["reason"] == "unsealable_field" and "13000000000" not in refused["detail"]
    await asyncio.sleep(2)  # the notifications of what just happened are recorded and sent

    for topic in topics.all_topics():
        values = b"\n".join([r.value or b"" async for r in read(kafka.bootstrap, topic, idle_timeout=1.0)])
        assert not _plaintext_in(values), topic
    databases = [p for p in platform.data_dir.glob("*.db*") if p.is_file()]
    assert databases or any(k.endswith("_DATABASE_URL") for k in platform.extra_env)
    for path in databases:
        assert not _plaintext_in(path.read_bytes()), path.name
    urls = [url for name, url in platform.extra_env.items() if name.endswith("_DATABASE_URL")]
    if urls:
        assert not _plaintext_in(await _postgres_rows(urls)), "PostgreSQL rows"
    logs = [p for p in (platform.data_dir / "logs").iterdir() if p.is_file()]
    assert logs
    for path in logs:
        if path.name.startswith("messaging-simulator"):
            continue  # the stand-in SMS gateway and mailbox: the outside party the platform hands a phone or address to
        assert not _plaintext_in(path.read_bytes()), path.name


def test_variants_cover_separators_and_case() -> None:
    variants = _variants()
    assert b"622848037731246053" in variants and b"ouyang.mingyuan7731@example.org" in variants
    assert Path(__file__).exists()
