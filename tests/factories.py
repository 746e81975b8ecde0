"""Builders for test messages, as any outside client would write them (personal fields sealed to the
receiving service's development key, unless ``seal=False``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.assertions import sign_as_actor
from shared.sealing import seal_for_development


def envelope(type_: str, data: dict[str, Any], *, actor: tuple[str, str], correlation_id: str | None = None,
             event_id: str | None = None, version: int = 1, signed: bool = True) -> dict[str, Any]:
    """A message as a client writes it; a person's command carries a token for its actor (development issuers)."""
    document = {
        "event_id": event_id or str(uuid.uuid4()),
        "type": type_,
        "version": version,
        "occurred_at": "2026-11-23T08:30:00Z",
        "producer": "test-client",
        "correlation_id": correlation_id or str(uuid.uuid4()),
        "actor": {"kind": actor[0], "id": actor[1]},
        "data": data,
    }
    return sign(document) if signed else document


def sign(document: dict[str, Any]) -> dict[str, Any]:
    """The document with a fresh token for its actor (after changing its data, sign it again)."""
    document = {k: v for k, v in document.items() if k != "token"}
    try:
        return sign_as_actor(document)
    except LookupError:  # system actors, and kinds no issuer asserts, carry no token
        return document


def create_order(order_id: str, *, merchant: str = "M-1001", buyer: str = "B-2001", unit_price: int = 12900,
                 quantity: int = 1, guaranteed: bool = True, actor: tuple[str, str] | None = None) -> dict[str, Any]:
    return envelope("payments.order.create", {
        "order_id": order_id, "merchant_id": merchant, "buyer_id": buyer,
        "items": [{"sku": "SKU-1", "name": "跑步鞋 Running shoes", "quantity": quantity, "unit_price": unit_price}],
        "amount": {"amount": unit_price * quantity, "currency": "CNY"},
        "guaranteed": guaranteed, "auto_confirm_days": 7,
    }, actor=actor or ("merchant", merchant), correlation_id=f"flow-{order_id}")


def pay_order(order_id: str, *, buyer: str = "B-2001", method: str = "qr_code") -> dict[str, Any]:
    return envelope("payments.order.pay", {"order_id": order_id, "method": method},
                    actor=("buyer", buyer), correlation_id=f"flow-{order_id}")


def issue_code(code_id: str, *, kind: str = "order", merchant: str = "M-1001", order_id: str | None = None,
               unit_price: int = 12900, channel: str = "qr_code", buyer: str | None = None, guarantee: bool = True,
               valid_minutes: int | None = None) -> dict[str, Any]:
    """A merchant's collection code: ``order`` (one sale of ``unit_price``, as ``order_id``) or ``shop``."""
    data: dict[str, Any] = {"code_id": code_id, "merchant_id": merchant, "kind": kind, "channel": channel,
                            "guarantee": guarantee, "valid_minutes": valid_minutes}
    if kind == "order":
        data |= {"order_id": order_id or f"O-{code_id}", "amount": {"amount": unit_price, "currency": "CNY"}, "buyer_id": buyer,
                 "items": [{"sku": "SKU-1", "name": "跑步鞋 Running shoes", "quantity": 1, "unit_price": unit_price}]}
    return envelope("payments.collection.issue", data, actor=("merchant", merchant), correlation_id=f"code-{code_id}")


def redeem_code(token: str, *, buyer: str = "B-2001", order_id: str | None = None, amount: int | None = None,
                guaranteed: bool = True, currency: str = "CNY") -> dict[str, Any]:
    """A customer pays with a code's token (``amount`` and ``order_id``: for a shop code)."""
    data: dict[str, Any] = {"token": token, "order_id": order_id, "guaranteed": guaranteed,
                            "amount": {"amount": amount, "currency": currency} if amount is not None else None}
    return envelope("payments.collection.redeem", data, actor=("buyer", buyer), correlation_id=f"flow-{order_id or 'code'}")


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def record_shipment(order_id: str, *, merchant: str = "M-1001") -> dict[str, Any]:
    return envelope("escrow.shipment.record", {"order_id": order_id, "carrier": "SF Express 顺丰", "tracking_no": "SF1234567890"},
                    actor=("merchant", merchant), correlation_id=f"flow-{order_id}")


def confirm_receipt(order_id: str, *, buyer: str = "B-2001") -> dict[str, Any]:
    return envelope("escrow.receipt.confirm", {"order_id": order_id}, actor=("buyer", buyer), correlation_id=f"flow-{order_id}")


def advance_clock(seconds: int, correlation_id: str) -> dict[str, Any]:
    return envelope("control.clock.advance", {"seconds": seconds}, actor=("operator", "OP-1"), correlation_id=correlation_id)


def cancel_order(order_id: str, reason: str, *, actor: tuple[str, str]) -> dict[str, Any]:
    return envelope("payments.order.cancel", {"order_id": order_id, "reason": reason}, actor=actor, correlation_id=f"flow-{order_id}")


def request_payout(payout_id: str, amount: int, *, merchant: str = "M-1001") -> dict[str, Any]:
    return envelope("payments.payout.request", {"payout_id": payout_id, "merchant_id": merchant,
                                                "amount": {"amount": amount, "currency": "CNY"}},
                    actor=("merchant", merchant), correlation_id=f"flow-{payout_id}")


ID_NUMBER = "11010519491231002X"
BANK_CARD = "6222021234567890128"
PHONE = "13812345678"


def apply_for_merchant(merchant_id: str, credit_code: str, *, legal_name: str = "杭州小盾牌贸易有限公司",
                       industry: str = "retail", seal: bool = True, **overrides: Any) -> dict[str, Any]:
    data = {
        "merchant_id": merchant_id, "merchant_type": "enterprise", "legal_name": legal_name, "credit_code": credit_code,
        "legal_rep_name": "张三", "legal_rep_id_number": ID_NUMBER, "settlement_account": BANK_CARD, "phone": PHONE,
        "email": "finance@example.com", "industry": industry,
        "documents": [{"kind": "business_licence", "uri": f"docs://{merchant_id}/licence.jpg", "sha256": "ab" * 32},
                      {"kind": "id_front", "uri": f"docs://{merchant_id}/id.jpg", "sha256": "cd" * 32}],
        **overrides,
    }
    document = envelope("onboarding.application.submit", data, actor=("merchant", merchant_id), correlation_id=f"apply-{merchant_id}")
    return sign(seal_for_development(document)) if seal else document  # sealed first, then signed, as an edge does


def register_contact(party: str, party_id: str, *, actor: tuple[str, str] | None = None, seal: bool = True,
                     **fields: Any) -> dict[str, Any]:
    document = envelope("notifications.contact.register", {"party": party, "party_id": party_id, **fields},
                        actor=actor or (party, party_id))
    return sign(seal_for_development(document)) if seal else document  # sealed first, then signed, as an edge does


def set_preference(party: str, party_id: str, *, actor: tuple[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return envelope("notifications.preference.set", {"party": party, "party_id": party_id, **fields}, actor=actor or (party, party_id))


def register_webhook(merchant_id: str, url: str, secret: str, *, seal: bool = True) -> dict[str, Any]:
    document = envelope("notifications.webhook.register", {"merchant_id": merchant_id, "url": url, "secret": secret},
                        actor=("merchant", merchant_id))
    return sign(seal_for_development(document)) if seal else document  # sealed first, then signed, as an edge does


def payment_succeeded(order_id: str, *, merchant: str = "M-1001", buyer: str = "B-2001", amount: int = 12900,
                      event_id: str | None = None) -> dict[str, Any]:
    """The event payments publishes, as notifications reads it."""
    document = envelope("payments.payment.succeeded", {
        "order_id": order_id, "intent_id": f"PI-{order_id}-1", "merchant_id": merchant, "buyer_id": buyer,
        "amount": {"amount": amount, "currency": "CNY"}, "fee": 77, "guaranteed": True, "auto_confirm_days": 7,
        "method": "qr_code", "provider_txn_id": "PSP-1"}, actor=("system", "payments"), correlation_id=f"flow-{order_id}", event_id=event_id)
    return {**document, "producer": "payments"}


def disputes_event(type_: str, data: dict[str, Any], *, order_id: str) -> dict[str, Any]:
    """An event the disputes service publishes (keyed by order id), as escrow reads it."""
    document = envelope(type_, data, actor=("system", "disputes"), correlation_id=f"flow-{order_id}")
    return {**document, "producer": "disputes"}
