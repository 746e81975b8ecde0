"""Notifications' handlers on FastStream's in-memory test broker: contacts, preferences,
webhooks, and events turned into recorded (not yet sent) notifications, once each."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.notifications.app import build
from services.notifications.config import NotificationsSettings
from services.notifications.store import Contact, Notification
from shared import topics
from shared.contracts.onboarding import MerchantContactProvided
from tests.factories import encode, envelope, payment_succeeded, register_contact, register_webhook, set_preference
from tests.handlers.harness import published, serving

EVENTS = topics.events("notifications")


@pytest.fixture
async def service(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build()) as running:
        yield running


async def _send(broker: Any, topic: str, document: dict[str, Any], key: str) -> None:
    await broker.publish(encode(document), topic, key=key.encode(), timestamp_ms=int(datetime.now().timestamp() * 1000))


async def _notifications(runtime: Any) -> list[Notification]:
    async with runtime.db.transaction() as session:
        return list((await session.exec(select(Notification).order_by(Notification.recipient, Notification.channel))).all())


async def test_an_event_becomes_one_notification_per_recipient_and_channel_even_delivered_twice(service, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    commands = topics.commands("notifications")
    await _send(broker, commands, register_contact("buyer", "B-1", phone="13812345678", push_token="dvc-0123456789ab"), "B-1")
    await _send(broker, commands, register_contact("merchant", "M-1", email="shop@example.com", language="en"), "M-1")
    registered = await published(runtime, EVENTS, "notifications.contact.registered")
    assert {m["data"]["party_id"]: m["data"]["phone_masked"] or m["data"]["email_masked"] for m in registered} == {
        "B-1": "138****5678", "M-1": "s***@example.com"}

    event = payment_succeeded("O-1", merchant="M-1", buyer="B-1")
    for _ in range(2):  # the same event delivered twice
        await _send(broker, topics.events("payments"), event, "O-1")
    rows = await _notifications(runtime)
    assert [(r.recipient, r.channel, r.template, r.language, r.state) for r in rows] == [
        ("buyer", "push", "payment_succeeded.buyer", "zh-CN", "pending"),
        ("buyer", "sms", "payment_succeeded.buyer", "zh-CN", "pending"),
        ("merchant", "email", "payment_succeeded.merchant", "en", "pending"),
    ]
    assert {r.source_event_id for r in rows} == {event["event_id"]}
    # what is stored is encrypted: no body text, no address
    cipher = NotificationsSettings().cipher()
    email = json.loads(cipher.decrypt(rows[2].content_enc or "", Notification.context(rows[2].notification_id)))
    assert email["subject"] == "Order O-1 paid: please ship" and "Hello," in email["text"]
    sms = json.loads(cipher.decrypt(rows[1].content_enc or "", Notification.context(rows[1].notification_id)))
    assert sms["text"].startswith("【担保】您已为订单 O-1 付款 ¥129.00")
    stored = b"".join(p.read_bytes() for p in data_dir.glob("notifications.db*"))
    assert b"13812345678" not in stored and b"shop@example.com" not in stored and "付款".encode() not in stored


async def test_updates_respect_muted_channels_but_transactional_messages_do_not(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    commands = topics.commands("notifications")
    await _send(broker, commands, register_contact("buyer", "B-2", push_token="dvc-0123456789ab"), "B-2")
    await _send(broker, commands, set_preference("buyer", "B-2", muted_channels=["push"], language="en"), "B-2")
    updated = await published(runtime, EVENTS, "notifications.preference.updated")
    assert updated[0]["data"]["muted_channels"] == ["push"] and updated[0]["data"]["language"] == "en"
    created = envelope("payments.order.created", {
        "order_id": "O-2", "merchant_id": "M-1", "buyer_id": "B-2", "amount": {"amount": 100, "currency": "CNY"},
        "guaranteed": True, "auto_confirm_days": 7, "items": [{"sku": "S", "name": "鞋", "quantity": 1, "unit_price": 100}]},
        actor=("system", "payments"))
    await _send(broker, topics.events("payments"), created, "O-2")  # an update: muted
    await _send(broker, topics.events("payments"), payment_succeeded("O-2", merchant="M-1", buyer="B-2", amount=100), "O-2")
    buyer = [(r.template, r.channel, r.language) for r in await _notifications(runtime) if r.recipient == "buyer"]
    assert buyer == [("payment_succeeded.buyer", "push", "en")]


async def test_nobody_to_tell_is_recorded_as_skipped_and_escrow_events_find_the_order_parties(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await _send(broker, topics.commands("notifications"), register_contact("buyer", "B-3", phone="13912345678"), "B-3")
    hold = envelope("escrow.hold.created", {"hold_id": "H-O-3", "order_id": "O-3", "merchant_id": "M-NOBODY", "buyer_id": "B-3",
                                            "amount": {"amount": 100, "currency": "CNY"}, "fee": 1, "auto_confirm_days": 7},
                    actor=("system", "escrow"))
    shipped = envelope("escrow.shipment.recorded", {"order_id": "O-3", "hold_id": "H-O-3", "carrier": "SF", "tracking_no": "SF1",
                                                    "auto_confirm_at": "2026-11-30T08:30:00Z"}, actor=("system", "escrow"))
    await _send(broker, topics.events("escrow"), hold, "O-3")
    await _send(broker, topics.events("escrow"), shipped, "O-3")
    rows = await _notifications(runtime)
    assert [(r.recipient_id, r.channel, r.state) for r in rows] == [("B-3", "sms", "pending")]  # the merchant's rule is webhook-only
    await _send(broker, topics.events("payments"), payment_succeeded("O-3", merchant="M-NOBODY", buyer="B-3"), "O-3")
    skipped = [r for r in await _notifications(runtime) if r.recipient_id == "M-NOBODY"]
    assert [(r.channel, r.state, r.failure_reason) for r in skipped] == [("none", "skipped", "no_contact")]


async def test_only_the_party_itself_or_an_operator_registers_and_webhooks_need_a_url(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    commands = topics.commands("notifications")
    await _send(broker, commands, register_contact("buyer", "B-4", actor=("buyer", "B-OTHER"), phone="13812345678"), "B-4")
    await _send(broker, commands, register_contact("buyer", "B-4", actor=("operator", "OP-1"), phone="13812345678"), "B-4")
    await _send(broker, commands, register_webhook("M-4", "ftp://shop.example.com/hook", "s" * 32), "M-4")
    await _send(broker, commands, register_webhook("M-4", "http://127.0.0.1:9/hook", "a" * 32), "M-4")
    await _send(broker, commands, register_webhook("M-4", "http://127.0.0.1:9/hook?token=x", "b" * 32), "M-4")
    rejected = await published(runtime, EVENTS, "notifications.command.rejected")
    registered = await published(runtime, EVENTS, "notifications.contact.registered")
    assert [m["data"]["reason"] for m in rejected] == ["forbidden"]
    assert [m["data"]["source"] for m in registered] == ["command"]
    hooks = await published(runtime, EVENTS, "notifications.webhook.registered")
    assert len(hooks) == 2 and hooks[1]["data"]["url"] == "http://127.0.0.1:9/hook"  # no query string shown
    assert hooks[1]["data"]["previous_secret_id"] == hooks[0]["data"]["secret_id"] and hooks[1]["data"]["previous_secret_until"]
    dead = await published(runtime, topics.dead_letters("notifications"), "deadletter.recorded")
    assert [d["data"]["reason"] for d in dead] == ["invalid_payload"]  # ftp:// does not match the contract
    assert "s" * 32 not in json.dumps(dead)  # the dead letter keeps the original sealed: it holds a secret


async def test_onboarding_seals_the_merchant_contact_and_the_activation_code_goes_by_email(service, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from services.onboarding.config import OnboardingSettings
    from shared.contracts.onboarding import ActivationCodeIssued

    runtime, broker = service
    merchant = f"M-{uuid.uuid4().hex[:6]}"
    sealed = MerchantContactProvided.seal(merchant, "13812345678", "finance@example.com", OnboardingSettings().contact_seal())
    assert "finance@example.com" not in sealed.model_dump_json()
    provided = envelope(sealed.TYPE, sealed.model_dump(mode="json"), actor=("system", "onboarding"))
    sealed_code = ActivationCodeIssued.seal(merchant, "402913", OnboardingSettings().contact_seal())
    code = envelope("onboarding.activation.code_issued", {"merchant_id": merchant, "sealed_code": sealed_code,
                                                          "email_masked": "f***@example.com", "expires_at": "2026-11-30T08:30:00Z"},
                    actor=("system", "onboarding"))
    assert "402913" not in json.dumps(code)
    await _send(broker, topics.events("onboarding"), provided, merchant)
    await _send(broker, topics.events("onboarding"), code, merchant)
    registered = await published(runtime, EVENTS, "notifications.contact.registered")
    assert {"source": "onboarding", "email_masked": "f***@example.com", "phone_masked": "138****5678"}.items() <= registered[0]["data"].items()
    rows = await _notifications(runtime)
    assert [(r.template, r.channel, r.language) for r in rows] == [("activation_code.merchant", "email", "zh-CN")]
    async with runtime.db.transaction() as session:
        contact = (await session.exec(select(Contact).where(Contact.party_id == merchant))).one()
    assert contact.email_masked == "f***@example.com" and contact.email_enc and "finance" not in contact.email_enc
    stored = b"".join(p.read_bytes() for p in data_dir.glob("notifications.db*"))
    assert b"402913" not in stored and b"finance@example.com" not in stored

    forged = MerchantContactProvided(merchant_id=merchant, phone_masked="x", email_masked="y", sealed_contact="v1:k9:AAAA")
    await _send(broker, topics.events("onboarding"), envelope(forged.TYPE, forged.model_dump(mode="json"), actor=("system", "x")), merchant)
    dead = await published(runtime, topics.dead_letters("notifications"), "deadletter.recorded")
    assert [d["data"]["reason"] for d in dead] == ["bad_seal"]


async def test_dispute_events_reach_the_buyer_and_merchant_they_name_without_knowing_the_order(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    commands = topics.commands("notifications")
    await _send(broker, commands, register_contact("buyer", "B-7", push_token="dvc-0123456789ab", language="en"), "B-7")
    await _send(broker, commands, register_contact("merchant", "M-7", email="shop7@example.com"), "M-7")
    money = {"amount": 3800, "currency": "CNY"}
    opened = envelope("disputes.case.opened", {
        "case_id": "C-7", "order_id": "O-7", "buyer_id": "B-7", "merchant_id": "M-7", "reason": "price_difference",
        "requested": money, "paid": {"amount": 12900, "currency": "CNY"}, "description": "charged 38 yuan more",
        "evidence": [], "respond_by": "2026-11-25T08:30:00Z"}, actor=("system", "disputes"))
    evidence = envelope("disputes.evidence.added", {"case_id": "C-7", "order_id": "O-7", "buyer_id": "B-7", "merchant_id": "M-7",
                                                    "party": "buyer", "evidence": []}, actor=("system", "disputes"))
    for message in (opened, opened, evidence):  # delivered twice; evidence tells nobody
        await _send(broker, topics.events("disputes"), message, "O-7")
    rows = await _notifications(runtime)
    assert [(r.recipient_id, r.channel, r.template, r.language, r.state) for r in rows] == [
        ("B-7", "push", "case_opened.buyer", "en", "pending"), ("M-7", "email", "case_opened.merchant", "zh-CN", "pending")]
    cipher = NotificationsSettings().cipher()
    email = json.loads(cipher.decrypt(rows[1].content_enc or "", Notification.context(rows[1].notification_id)))
    assert email["subject"] == "订单 O-7 收到退款申请" and "2026-11-25 16:30（北京时间） 前同意、拒绝或提出其他退款金额" in email["text"]
