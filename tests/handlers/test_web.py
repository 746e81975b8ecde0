"""The web edge's pages over its own database, events fed through the consumer path as Kafka would deliver them:
the cashier's sign-in (the phone kept encrypted, never in a URL, cookie, log or the outbox), paying and following an
order, the console's sign-in and desks by role, and the hygiene every page has (CSRF, cookie flags, CSP)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from services.web.config import WebSettings
from services.web.store import BuyerAccount, OrderView
from shared.contracts import collection, escrow, onboarding, payments
from shared.contracts.common import rejection_payload
from shared.contracts.onboarding import CheckResult
from shared.contracts.order_lines import OrderItem
from shared.money import Money
from tests.handlers.web_harness import Web, verify, web  # noqa: F401 - the fixture

PHONE = "13912345678"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJRUi1XRUItMSJ9.c2lnbmF0dXJlLW9mLXRoZS1jb2Rl"
ORDER = "O-WEB-0001"


def _issued(kind: str = "order") -> collection.CollectionCodeIssued:
    item = OrderItem(sku="SKU-1", name="跑步鞋 Running shoes", quantity=1, unit_price=8800)
    return collection.CollectionCodeIssued(
        code_id="QR-WEB-1", merchant_id="M-1001", kind=kind, channel="qr_code", order_id=ORDER if kind == "order" else None,
        amount=Money(amount=8800, currency="CNY") if kind == "order" else None, items=[item] if kind == "order" else [],
        guarantee_available=True, merchant_verified=True, token=TOKEN, url=f"http://testserver/c/{TOKEN}",
        expires_at=datetime.now(timezone.utc) + timedelta(minutes=30))


def _sign_in(web: Web, phone: str = PHONE) -> str:
    csrf = web.csrf(f"/c/{TOKEN}")
    sent = web.client.post("/signin/code", data={"csrf_token": csrf, "phone": phone}, follow_redirects=False)
    assert sent.status_code == 303 and phone not in sent.headers["location"]
    code = web.sms[-1][1]
    verified = web.client.post("/signin/verify", data={"csrf_token": web.csrf(f"/c/{TOKEN}"), "code": code}, follow_redirects=False)
    assert verified.status_code == 303
    return code


def test_a_walk_in_customer_signs_in_with_a_phone_and_pays(web: Web, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert web.client.get(f"/c/{TOKEN}").status_code == 404  # not yet known: the page waits for it
    web.feed("danbao.payments.events", "payments", _issued())
    page = web.client.get(f"/c/{TOKEN}")
    assert page.status_code == 200
    assert "小盾牌生活馆" in page.text and 'id="verified-badge"' in page.text and "¥88.00" in page.text
    assert "跑步鞋 Running shoes" in page.text and 'id="guarantee-offer"' in page.text and 'id="send-code"' in page.text
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie

    _sign_in(web)
    signed_in = web.client.get(f"/c/{TOKEN}")
    assert "139****5678" in signed_in.text and 'id="pay"' in signed_in.text and 'id="guaranteed"' in signed_in.text
    buyer = next(iter(web.outbox("notifications.contact.register")))["actor"]["id"]
    assert re.fullmatch(r"B-[0-9A-F]{24}", buyer)
    contact = web.outbox("notifications.contact.register")[0]
    assert contact["data"]["phone"].count(".") == 4 and verify(contact).issuer == "buyer-app"  # sealed, then signed

    pay = web.client.post(f"/c/{TOKEN}/pay", data={"csrf_token": web.csrf(f"/c/{TOKEN}"), "guaranteed": "yes"},
                          follow_redirects=False)
    assert pay.headers["location"] == f"/orders/{ORDER}"
    (redeem,) = web.outbox("payments.collection.redeem")
    assert redeem["data"]["token"] == TOKEN and redeem["data"]["guaranteed"] is True and redeem["actor"] == {"kind": "buyer", "id": buyer}
    claims = verify(redeem)
    assert (claims.issuer, claims.subject) == ("buyer-app", buyer)
    assert "正在处理" in web.client.get(f"/orders/{ORDER}").text  # until payments' events arrive

    money = Money(amount=8800, currency="CNY")
    item = OrderItem(sku="SKU-1", name="跑步鞋 Running shoes", quantity=1, unit_price=8800)
    web.feed("danbao.payments.events", "payments",
             payments.OrderCreated(order_id=ORDER, merchant_id="M-1001", buyer_id=buyer, amount=money, guaranteed=True,
                                   auto_confirm_days=7, items=[item], collection_code_id="QR-WEB-1"),
             payments.PaymentSucceeded(order_id=ORDER, intent_id=f"PI-{ORDER}-1", merchant_id="M-1001", buyer_id=buyer,
                                       amount=money, fee=53, guaranteed=True, auto_confirm_days=7, method="qr_code",
                                       provider_txn_id="PSP-1"))
    web.feed("danbao.escrow.events", "escrow", escrow.HoldCreated(hold_id=f"H-{ORDER}", order_id=ORDER, merchant_id="M-1001",
                                                                 buyer_id=buyer, amount=money, fee=53, auto_confirm_days=7))
    held = web.client.get(f"/orders/{ORDER}/live").text
    assert 'data-status="held"' in held and "confirm-receipt" not in held
    web.feed("danbao.escrow.events", "escrow", escrow.ShipmentRecorded(
        order_id=ORDER, hold_id=f"H-{ORDER}", carrier="SF Express 顺丰", tracking_no="SF1", auto_confirm_at=datetime(2026, 12, 14, 2, tzinfo=timezone.utc)))
    shipped = web.client.get(f"/orders/{ORDER}").text
    assert 'data-status="shipped"' in shipped and "2026-12-14 10:00" in shipped and 'id="confirm-receipt"' in shipped
    web.client.post(f"/orders/{ORDER}/confirm", data={"csrf_token": web.csrf(f"/orders/{ORDER}")})
    (confirm,) = web.outbox("escrow.receipt.confirm")
    assert confirm["data"] == {"order_id": ORDER} and verify(confirm).subject == buyer

    # A refusal of what the buyer asked is shown on the order.
    refused = rejection_payload("escrow")(command_type="escrow.receipt.confirm", command_event_id=confirm["event_id"],
                                          aggregate_id=ORDER, reason="not_shipped", detail="the order is not shipped")
    web.feed("danbao.escrow.events", "escrow", refused)
    assert "not_shipped" in web.client.get(f"/orders/{ORDER}/live").text

    # The phone is nowhere in plaintext: not in the database file, the outbox, the cookie or the logs.
    async def account() -> BuyerAccount | None:
        async with web.edge.runtime.db.transaction() as session:
            return await session.get(BuyerAccount, buyer)
    stored = web.client.portal.call(account)  # type: ignore[union-attr]
    assert stored is not None and stored.phone_masked == "139****5678" and PHONE not in stored.phone_encrypted
    assert PHONE.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("web.db*"))
    assert PHONE not in caplog.text and PHONE not in str(web.client.cookies)


def test_an_order_is_only_its_buyers_and_every_form_needs_its_csrf_token(web: Web) -> None:
    web.feed("danbao.payments.events", "payments", _issued())
    web.feed("danbao.payments.events", "payments", payments.OrderCreated(
        order_id=ORDER, merchant_id="M-1001", buyer_id="B-SOMEONE-ELSE", amount=Money(amount=8800, currency="CNY"),
        guaranteed=True, auto_confirm_days=7, items=[OrderItem(sku="S", name="n", quantity=1, unit_price=8800)]))
    assert web.client.post("/signin/code", data={"phone": PHONE}).status_code == 403
    assert web.client.post("/signin/code", data={"phone": PHONE, "csrf_token": "forged"}).status_code == 403
    _sign_in(web)
    assert web.client.get(f"/orders/{ORDER}").status_code == 404
    assert web.client.post(f"/orders/{ORDER}/confirm", data={"csrf_token": web.csrf(f"/c/{TOKEN}")}).status_code == 404
    assert web.outbox("escrow.receipt.confirm") == []
    crossed = web.client.post(f"/c/{TOKEN}/pay", data={"csrf_token": web.csrf(f"/c/{TOKEN}")},
                              headers={"origin": "https://evil.example"})
    assert crossed.status_code == 403 and web.outbox("payments.collection.redeem") == []


def test_a_wrong_code_does_not_sign_in_and_the_codes_are_limited(web: Web) -> None:
    web.feed("danbao.payments.events", "payments", _issued())
    csrf = web.csrf(f"/c/{TOKEN}")
    web.client.post("/signin/code", data={"csrf_token": csrf, "phone": PHONE})
    right = web.sms[-1][1]
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    page = web.client.post("/signin/verify", data={"csrf_token": csrf, "code": wrong})
    assert "bad_code" in str(page.url) and 'id="pay"' not in page.text
    assert "error=bad_phone" in str(web.client.post("/signin/code", data={"csrf_token": csrf, "phone": "12345"}).url)
    for _ in range(5):
        web.client.post("/signin/code", data={"csrf_token": csrf, "phone": "13700000001"})
    limited = web.client.post("/signin/code", data={"csrf_token": csrf, "phone": "13700000001"})
    assert "too_many_codes" in str(limited.url)


def test_staff_sign_in_gives_the_desks_of_their_roles_and_actions_are_signed_for_them(web: Web) -> None:
    assert 'id="dev-RV-1"' in web.client.get("/console").text
    csrf = web.csrf("/console")
    web.client.post("/console/signin/dev", data={"csrf_token": csrf, "principal": "RV-1"})
    home = web.client.get("/console").text
    assert "/console/reviews" in home and "/console/cases" not in home
    assert web.client.get("/console/cases").status_code == 403
    assert web.client.get("/console/ledger").status_code == 403
    merchant = "M-WEB-REVIEW"
    web.feed("danbao.onboarding.events", "onboarding",
             onboarding.ApplicationReceived(merchant_id=merchant, merchant_type="enterprise", legal_name="杭州另一家贸易有限公司",
                                            credit_code="91330100MA2EEEEE1F", phone_masked="138****5678", email_masked="f***@example.com",
                                            id_number_masked="110***********002X", settlement_account_masked="6222 **** **** 0128",
                                            industry="retail"),
             onboarding.ChecksCompleted(merchant_id=merchant, risk_score=40, outcome="manual_review", checks=[
                 CheckResult(name="registry", passed=False, reason="registered as 杭州另一家贸易有限公司")]),
             onboarding.ReviewRequired(merchant_id=merchant, reasons=["registered name differs"],
                                       due_at=datetime(2026, 11, 26, 10, tzinfo=timezone.utc)))
    queue = web.client.get("/console/reviews").text
    assert merchant in queue and "2026-11-26 18:00" in queue and "registered as 杭州另一家贸易有限公司" in queue
    decided = web.client.post(f"/console/reviews/{merchant}", data={"csrf_token": web.csrf(f"/console/reviews/{merchant}"),
                                                                    "decision": "approve", "reasons": ""})
    assert decided.status_code == 200
    (decision,) = web.outbox("onboarding.review.decide")
    claims = verify(decision)
    assert decision["actor"] == {"kind": "reviewer", "id": "RV-1"} and claims.issuer == "operator-console"
    assert claims.roles == frozenset({"reviewer"})
    # an arbitrator's form posted by a reviewer is refused, and nothing is sent
    assert web.client.post("/console/cases/C-1/rule", data={"csrf_token": web.csrf("/console"), "decision": "reject",
                                                            "reasons": "x"}).status_code == 403
    assert web.outbox("disputes.case.rule") == []


def test_production_needs_oidc_and_the_edges_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DANBAO_MODE", "production")
    with pytest.raises(ValueError, match="DANBAO_WEB_BUYER_KEY_FILE"):
        WebSettings(session_secret="s" * 32, phone_key="p" * 32, sms_api_key="k" * 20, pii_keys="k1:" + "A" * 43 + "=")
    from ops import issuers
    from shared.sealing import SealKeys, generate_private_jwk

    issuers.write(tmp_path)
    public_keys = SealKeys({"keys": [generate_private_jwk("n1")]}).public_jwks()
    keys = {"buyer_key_file": tmp_path / "danbao_issuer_buyer-app.json",
            "console_key_file": tmp_path / "danbao_issuer_operator-console.json"}
    with pytest.raises(ValueError, match="OIDC"):
        WebSettings(session_secret="s" * 32, phone_key="p" * 32, sms_api_key="k" * 20, pii_keys="k1:" + "A" * 43 + "=", **keys)
    settings = WebSettings(session_secret="s" * 32, phone_key="p" * 32, sms_api_key="k" * 20, pii_keys="k1:" + "A" * 43 + "=",
                           oidc_metadata_url="https://id.example/.well-known/openid-configuration", oidc_client_id="console",
                           oidc_client_secret="secret", notifications_seal_keys=json.dumps(public_keys),
                           **keys)
    assert not settings.development_sign_in and settings.signer("buyer-app").issuer == "buyer-app"


def test_the_shop_code_takes_the_amount_the_customer_enters(web: Web) -> None:
    web.feed("danbao.payments.events", "payments", _issued("shop"))
    _sign_in(web)
    page = web.client.get(f"/c/{TOKEN}").text
    assert 'id="amount-input"' in page
    bad = web.client.post(f"/c/{TOKEN}/pay", data={"csrf_token": web.csrf(f"/c/{TOKEN}"), "amount": "abc"})
    assert "error=bad_amount" in str(bad.url)
    web.client.post(f"/c/{TOKEN}/pay", data={"csrf_token": web.csrf(f"/c/{TOKEN}"), "amount": "18.8"})
    (redeem,) = web.outbox("payments.collection.redeem")
    assert redeem["data"]["amount"] == {"amount": 1880, "currency": "CNY"} and redeem["data"]["guaranteed"] is False
    assert redeem["data"]["order_id"].startswith("W-") and uuid.UUID(redeem["event_id"])





def test_an_order_read_out_of_order_ends_where_its_events_lead(web: Web) -> None:
    """Escrow's and payments' events come on different topics: after a restart the edge may read the shipment before
    the order; the order still ends up shipped, with the buyer's name on it."""
    money = Money(amount=8800, currency="CNY")
    buyer = "B-00000000000000000000ABCD"
    web.feed("danbao.escrow.events", "escrow",
             escrow.HoldCreated(hold_id=f"H-{ORDER}", order_id=ORDER, merchant_id="M-1001", buyer_id=buyer, amount=money,
                                fee=53, auto_confirm_days=7),
             escrow.ShipmentRecorded(order_id=ORDER, hold_id=f"H-{ORDER}", carrier="SF", tracking_no="SF2",
                                     auto_confirm_at=datetime(2026, 12, 14, 2, tzinfo=timezone.utc)))
    web.feed("danbao.payments.events", "payments",
             payments.OrderCreated(order_id=ORDER, merchant_id="M-1001", buyer_id=buyer, amount=money, guaranteed=True,
                                   auto_confirm_days=7, items=[OrderItem(sku="S", name="n", quantity=1, unit_price=8800)]),
             payments.PaymentSucceeded(order_id=ORDER, intent_id=f"PI-{ORDER}-1", merchant_id="M-1001", buyer_id=buyer,
                                       amount=money, fee=53, guaranteed=True, auto_confirm_days=7, method="qr_code",
                                       provider_txn_id="PSP-1"))

    async def read() -> Any:
        async with web.edge.runtime.db.transaction() as session:
            return await session.get(OrderView, ORDER)
    order = web.client.portal.call(read)  # type: ignore[union-attr]
    assert (order.status, order.buyer_id, order.carrier, order.fee) == ("shipped", buyer, "SF", 53)


def test_behind_a_tls_proxy_forms_from_the_public_address_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.handlers.web_harness import running

    web = next(gen := running(tmp_path, monkeypatch, WebSettings(public_url="https://pay.danbao.example")))
    try:
        csrf = web.csrf("/orders")
        public = web.client.post("/signin/code", data={"csrf_token": csrf, "phone": PHONE},
                                 headers={"origin": "https://pay.danbao.example"}, follow_redirects=False)
        assert public.status_code == 303 and web.sms[-1][0] == PHONE
        assert web.client.post("/signin/code", data={"csrf_token": csrf, "phone": PHONE},
                               headers={"origin": "https://evil.example"}).status_code == 403
    finally:
        gen.close()
