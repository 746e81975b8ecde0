"""An event whose type header names a type the consumer acts on is validated straight from its bytes
(``TopicContract.parse_json``); anything unusual falls back to the long way, which says what is wrong."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from shared.contracts import payments
from shared.money import Money
from shared.unit_of_work import UnitOfWork

SUCCEEDED = payments.PaymentSucceeded.TYPE


def _event() -> bytes:
    uow = UnitOfWork(None, "payments", datetime(2026, 12, 7, tzinfo=timezone.utc))  # type: ignore[arg-type]
    uow.emit(payments.EVENTS, "O-1", payments.PaymentSucceeded(
        order_id="O-1", intent_id="PI-O-1-1", merchant_id="M-1", buyer_id="B-1", amount=Money(amount=12900, currency="CNY"),
        fee=49, guaranteed=True, auto_confirm_days=7, method="qr_code", provider_txn_id="PSP-1"))
    return uow.outbox_rows[0]["payload"]


def test_the_fast_path_reads_what_the_long_way_reads() -> None:
    raw = _event()
    assert payments.EVENTS.parse_json(raw, SUCCEEDED) == payments.EVENTS.parse(json.loads(raw))


def test_anything_unusual_goes_the_long_way() -> None:
    raw = _event()
    document = json.loads(raw)
    assert payments.EVENTS.parse_json(raw, payments.OrderCreated.TYPE) is None  # the header names another type
    assert payments.EVENTS.parse_json(b"{not json", SUCCEEDED) is None
    assert payments.EVENTS.parse_json(b"", SUCCEEDED) is None
    assert payments.EVENTS.parse_json(json.dumps({**document, "version": 2}).encode(), SUCCEEDED) is None  # newer
    assert payments.EVENTS.parse_json(json.dumps({k: v for k, v in document.items() if k != "event_id"}).encode(),
                                      SUCCEEDED) is None  # no event id: the long way decides what to remember it by
    assert payments.EVENTS.parse_json(raw, "payments.no.such") is None
