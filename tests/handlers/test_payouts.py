"""Payouts through payments' real subscribers on the in-memory test broker: the account onboarding verified
(from its activation event), the T+N schedule, and the refusals (suspended, held, no verified account)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.payments.app import build as build_payments
from services.payments.store import hold_payouts
from shared import topics
from shared.business_days import CHINA, is_business_day
from shared.contracts.settlement import open_account, seal_account
from shared.pii import FieldCipher, development_keys
from tests.factories import encode, envelope, request_payout
from tests.handlers.harness import published, serving

BANK_KEYS = FieldCipher.from_spec(development_keys("bank account seal"))  # onboarding's and the bank's, in dev mode
CORPORATE = "33050161672700000123"


@pytest.fixture
async def payments(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build_payments()) as running:
        yield running


def _event(producer: str, type_: str, key: str, **data: Any) -> bytes:
    return encode({**envelope(type_, data, actor=("system", producer)), "producer": producer})


def _activated(merchant: str, ref: str | None = "SA-H-1") -> bytes:
    account = dict(settlement_account_ref=ref, settlement_account_masked="3305 **** **** 0123", settlement_account_kind="corporate",
                   sealed_settlement_account=seal_account(CORPORATE, merchant, ref, BANK_KEYS)) if ref else {}
    return _event("onboarding", "onboarding.merchant.activated", merchant, merchant_id=merchant, industry="retail",
                  verified=True, **account)


def _reserved(payout_id: str, merchant: str, amount: int) -> bytes:
    return _event("escrow", "escrow.payout.reserved", merchant, payout_id=payout_id, merchant_id=merchant,
                  amount={"amount": amount, "currency": "CNY"}, available_after=0)


async def _rejection(runtime: Any, payout_id: str) -> str:
    rejected = [r for r in await published(runtime, topics.events("payments"), "payments.command.rejected")
                if r["data"]["command_event_id"] and payout_id in r["correlation_id"]]
    return str(rejected[-1]["data"]["reason"]) if rejected else ""


async def test_a_payout_goes_to_the_account_onboarding_verified_on_the_business_day_its_rule_gives(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(_activated("M-PO-1"), topics.events("onboarding"), key=b"M-PO-1")
    for payout_id, amount in (("PO-H-1", 10_000), ("PO-H-2", 150_000_000)):  # ¥100 and ¥1,500,000 to a corporate account
        await broker.publish(encode(request_payout(payout_id, amount, merchant="M-PO-1")), topics.commands("payments"), key=b"M-PO-1")
        await broker.publish(_reserved(payout_id, "M-PO-1", amount), topics.events("escrow"), key=b"M-PO-1")
    scheduled = {s["data"]["payout_id"]: s["data"] for s in await published(runtime, topics.events("payments"), "payments.payout.scheduled")}
    while len(scheduled) < 2:
        scheduled |= {s["data"]["payout_id"]: s["data"] for s in await published(runtime, topics.events("payments"), "payments.payout.scheduled")}
    assert (scheduled["PO-H-1"]["business_days"], scheduled["PO-H-2"]["business_days"]) == (1, 3)
    for data in scheduled.values():
        at = datetime.fromisoformat(data["transfer_at"]).astimezone(CHINA)
        assert is_business_day(at.date()) and at.hour == 9 and data["account_ref"] == "SA-H-1"
    runtime.clock.advance(10 * 86400)
    await runtime.scheduler.fire_due()
    transfers = await published(runtime, topics.BANK_REQUESTS, "bank.transfer.requested")
    assert sorted(t["data"]["payout_id"] for t in transfers) == ["PO-H-1", "PO-H-2"]
    for transfer in transfers:
        data = transfer["data"]
        assert (data["account_ref"], data["account_masked"], data["account_kind"]) == ("SA-H-1", "3305 **** **** 0123", "corporate")
        assert open_account(data["sealed_account"], "M-PO-1", "SA-H-1", BANK_KEYS) == CORPORATE
        assert CORPORATE not in str(transfer)


async def test_no_payout_for_a_suspended_or_held_merchant_or_one_without_a_verified_account(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(_activated("M-PO-2"), topics.events("onboarding"), key=b"M-PO-2")
    await broker.publish(_activated("M-PO-OLD", ref=None), topics.events("onboarding"), key=b"M-PO-OLD")  # an event from before
    await broker.publish(encode(request_payout("PO-H-OLD", 100, merchant="M-PO-OLD")), topics.commands("payments"), key=b"M-PO-OLD")
    assert await _rejection(runtime, "PO-H-OLD") == "no_verified_account"

    # Scheduled while active, then the merchant is suspended: the transfer is not sent, the money goes back.
    await broker.publish(encode(request_payout("PO-H-3", 100, merchant="M-PO-2")), topics.commands("payments"), key=b"M-PO-2")
    await broker.publish(_reserved("PO-H-3", "M-PO-2", 100), topics.events("escrow"), key=b"M-PO-2")
    assert await published(runtime, topics.events("payments"), "payments.payout.scheduled")
    await broker.publish(_event("onboarding", "onboarding.merchant.suspended", "M-PO-2", merchant_id="M-PO-2", reason="complaints"),
                         topics.events("onboarding"), key=b"M-PO-2")
    await broker.publish(encode(request_payout("PO-H-4", 100, merchant="M-PO-2")), topics.commands("payments"), key=b"M-PO-2")
    assert await _rejection(runtime, "PO-H-4") == "merchant_suspended"
    runtime.clock.advance(10 * 86400)
    await runtime.scheduler.fire_due()
    failed = await published(runtime, topics.events("payments"), "payments.payout.failed")
    assert [(f["data"]["payout_id"], f["data"]["reason"], f["data"]["reserved"]) for f in failed] == [("PO-H-3", "merchant_suspended", True)]
    assert not [m for m in runtime.sent if m["type"] == "bank.transfer.requested"]

    # Reinstated, then held for a risk review (the hook): refused with payouts_held; released: allowed again.
    await broker.publish(_event("onboarding", "onboarding.merchant.reinstated", "M-PO-2", merchant_id="M-PO-2", reason="cleared"),
                         topics.events("onboarding"), key=b"M-PO-2")
    await published(runtime, topics.events("payments"), "never.published", timeout=0.3)
    async with runtime.db.transaction() as session:
        await hold_payouts(session, "M-PO-2", "under a risk review", runtime.clock.now())
    await broker.publish(encode(request_payout("PO-H-5", 100, merchant="M-PO-2")), topics.commands("payments"), key=b"M-PO-2")
    assert await _rejection(runtime, "PO-H-5") == "payouts_held"
    async with runtime.db.transaction() as session:
        await hold_payouts(session, "M-PO-2", None, runtime.clock.now())
    await broker.publish(encode(request_payout("PO-H-6", 100, merchant="M-PO-2")), topics.commands("payments"), key=b"M-PO-2")
    requested = await published(runtime, topics.events("payments"), "payments.payout.requested")
    assert "PO-H-6" in [r["data"]["payout_id"] for r in requested]
