"""The web edge in a real browser (headless Chromium), against the whole platform: a walk-in customer scans a
merchant's code, signs in with an SMS code, pays, and confirms receipt once the merchant ships, and the money is
released; a reviewer approves an application; an operator replays a dead letter and reads the ledger and a day
report; a buyer's refund request goes through a counter-offer and a rejection to arbitration, an arbitrator rules,
the refund reaches the buyer, who gives the verification feedback. Each page is saved (`make screens` refreshes the README's images in docs/screens/)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from ops.platform import LocalPlatform
from services.simulators.registry import OTHER_NAME  # the registry knows the company under another name: a reviewer decides
from shared.business_days import CHINA
from tests.factories import advance_clock, apply_for_merchant, envelope, issue_code, record_shipment, redeem_code
from tests.integration.browser import (DESK_SIZE, PHONE_SIZE, chromium, click, cookies_of, element, fill, reload_until,
                                       screenshot, sms_code, until_status, wait)
from tests.conftest import SHARED_ID
from tests.integration.conftest import Kafka, of

pytestmark = pytest.mark.integration
# On the shared platform (which runs the web edge too), on one store: the screens are the same on either.
ON_SQLITE = pytest.mark.parametrize("platform", ["sqlite"], indirect=True, ids=[f"{SHARED_ID}sqlite"])
# A 1x1 PNG: the evidence photo a buyer uploads.
PHOTO = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def buyer() -> Iterator[WebDriver]:
    driver = chromium(PHONE_SIZE)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def staff() -> Iterator[WebDriver]:
    driver = chromium(DESK_SIZE)
    try:
        yield driver
    finally:
        driver.quit()


def _has(type_: str, **data: Any):  # type: ignore[no-untyped-def]
    return lambda ms: any(of(type_, **data)(m) for m in ms)


async def _event(kafka: Kafka, topic: str, type_: str, **data: Any) -> dict[str, Any]:
    events = await kafka.read_until(topic, _has(type_, **data), timeout=60)
    return next(m for m in events if of(type_, **data)(m))


async def _code(kafka: Kafka, platform: LocalPlatform, unit_price: int) -> tuple[str, str]:
    """A merchant's order code, as its system issues it; (its URL, its order id)."""
    code_id, order_id = f"QR-{uuid.uuid4().hex[:8]}", f"O-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", issue_code(code_id, order_id=order_id, unit_price=unit_price), key=code_id)
    issued = (await _event(kafka, "danbao.payments.events", "payments.collection.issued", code_id=code_id))["data"]
    assert issued["url"] == f"{platform.web_url}/c/{issued['token']}"  # the QR code opens this edge's cashier
    return issued["url"], order_id


async def _shop_code(kafka: Kafka, merchant: str) -> str:
    """A merchant's standing shop QR code; its token."""
    code_id = f"SHOP-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.payments.commands", issue_code(code_id, kind="shop", merchant=merchant), key=code_id)
    return str((await _event(kafka, "danbao.payments.events", "payments.collection.issued", code_id=code_id))["data"]["token"])


def _signed_in(buyer: WebDriver, platform: LocalPlatform, shots: str | None = None) -> None:
    """On a code page: sign in with a new phone and its SMS code, unless signed in already."""
    element(buyer, "merchant-name")
    if buyer.find_elements(By.ID, "pay"):
        return
    phone = f"139{random.randrange(10_000_000, 99_999_999)}"
    fill(buyer, "phone", phone)
    click(buyer, "send-code")
    code = sms_code(platform.messaging_url, phone)
    element(buyer, "code")
    assert phone not in buyer.current_url and phone not in buyer.page_source  # masked: 139****1234
    if shots:
        screenshot(buyer, shots)
    fill(buyer, "code", code)
    click(buyer, "verify")
    element(buyer, "pay")


def _pay(buyer: WebDriver, platform: LocalPlatform, url: str, order_id: str, shots: str | None = None) -> None:
    buyer.get(url)
    _signed_in(buyer, platform, shots)
    click(buyer, "pay")
    wait(buyer, lambda d: d.current_url.endswith(f"/orders/{order_id}"), what="the order page")
    until_status(buyer, "held")


def _staff_sign_in(staff: WebDriver, platform: LocalPlatform, principal: str) -> None:
    staff.get(f"{platform.web_url}/console")
    if staff.find_elements(By.CSS_SELECTOR, "form[action='/console/signout'] button"):
        staff.find_element(By.CSS_SELECTOR, "form[action='/console/signout'] button").click()
    click(staff, f"dev-{principal}")
    wait(staff, lambda d: principal in d.find_element(By.TAG_NAME, "h1").text, what=f"{principal} signed in")


@ON_SQLITE
async def test_a_walk_in_customer_pays_with_the_code_confirms_receipt_and_the_money_is_released(
        platform: LocalPlatform, kafka: Kafka, buyer: WebDriver) -> None:
    url, order_id = await _code(kafka, platform, 8800)
    buyer.get(url)
    assert element(buyer, "merchant-name").text == "小盾牌生活馆 Little Shield Store"
    assert element(buyer, "verified-badge").is_displayed() and element(buyer, "amount").text == "¥88.00"
    assert "跑步鞋 Running shoes" in buyer.page_source and element(buyer, "guarantee-offer").is_displayed()
    screenshot(buyer, "cashier-1-scanned")
    _pay(buyer, platform, url, order_id, shots="cashier-2-sign-in")
    screenshot(buyer, "cashier-3-paid-and-held")
    created = (await _event(kafka, "danbao.payments.events", "payments.order.created", order_id=order_id))["data"]
    assert created["buyer_id"].startswith("B-") and created["guaranteed"] is True

    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)  # the merchant's system ships
    until_status(buyer, "shipped")
    assert "自动确认收货时间" in element(buyer, "auto-confirm").text
    screenshot(buyer, "cashier-4-shipped")
    click(buyer, "confirm-receipt")
    until_status(buyer, "released")
    released = (await _event(kafka, "danbao.escrow.events", "escrow.hold.released", order_id=order_id))["data"]
    assert (released["buyer_id"], released["reason"], released["amount"]["amount"]) == (created["buyer_id"], "buyer_confirmed", 8800)
    assert released["net"] == 8800 - released["fee"]
    screenshot(buyer, "cashier-5-released")


@ON_SQLITE
async def test_a_reviewer_approves_an_application_the_checks_could_not_settle(
        platform: LocalPlatform, kafka: Kafka, staff: WebDriver) -> None:
    merchant = f"M-{uuid.uuid4().hex[:8]}"
    await kafka.send("danbao.onboarding.commands", apply_for_merchant(merchant, OTHER_NAME), key=merchant)
    await _event(kafka, "danbao.onboarding.events", "onboarding.review.required", merchant_id=merchant)
    _staff_sign_in(staff, platform, "RV-1")
    screenshot(staff, "console-1-signed-in")
    staff.get(f"{platform.web_url}/console/reviews")
    row = reload_until(staff, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-merchant='{merchant}']"), what=merchant)[0]
    assert "✗" in row.text and row.find_element(By.TAG_NAME, "time").get_attribute("datetime")  # registry result, SLA due
    screenshot(staff, "console-2-review-queue")
    row.find_element(By.TAG_NAME, "a").click()
    fill(staff, "reasons", "工商登记名称变更，已电话核实 / registered name changed, confirmed by phone")
    screenshot(staff, "console-3-application")
    click(staff, "decide")
    approved = (await _event(kafka, "danbao.onboarding.events", "onboarding.application.approved", merchant_id=merchant))["data"]
    assert approved["by"] == "RV-1"
    reload_until(staff, lambda d: "approved" in element(d, "application-status").text, what="approved")


@ON_SQLITE
async def test_an_operator_replays_a_dead_letter_releases_a_held_payment_and_reads_the_ledger_and_a_day_report(
        platform: LocalPlatform, kafka: Kafka, staff: WebDriver) -> None:
    key = f"DLQ-{uuid.uuid4().hex[:8]}"
    unreadable = {"event_id": str(uuid.uuid4()), "type": "payments.order.create", "version": 1, "producer": "test",
                  "actor": {"kind": "merchant", "id": "M-1001"}, "data": {"order_id": key}}
    await kafka.send("danbao.payments.commands", unreadable, key=key)
    letter = await kafka.read_until("danbao.payments.dlq", lambda ms: any(m["data"]["source_key"] == key for m in ms))
    letter_id = next(m for m in letter if m["data"]["source_key"] == key)["event_id"]
    _staff_sign_in(staff, platform, "OP-1")
    staff.get(f"{platform.web_url}/console/deadletters")
    row = reload_until(staff, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-dead-letter='{letter_id}']"), what=key)[0]
    assert "invalid_payload" in row.text and key in row.text  # the reason and where it came from
    row.find_element(By.TAG_NAME, "button").click()
    replayed = await _event(kafka, "danbao.control.events", "control.deadletter.replayed", dead_letter_id=letter_id)
    assert replayed["data"]["replayed_by"] == "OP-1" and replayed["data"]["outcome"] == "dead_lettered"
    reload_until(staff, lambda d: "OP-1" in d.find_element(By.CSS_SELECTOR, f"tr[data-dead-letter='{letter_id}'] .outcome").text,
                 what="the replay's outcome")
    screenshot(staff, "console-4-dead-letters")

    # A buyer paying an 11th time in ten minutes: the velocity rule holds the payment for an operator, who releases it.
    token, risky = await _shop_code(kafka, "M-1002"), f"B-RISK-{uuid.uuid4().hex[:6].upper()}"
    orders = [f"W-{uuid.uuid4().hex[:10]}" for _ in range(11)]
    for order in orders:
        await kafka.send("danbao.payments.commands", redeem_code(token, buyer=risky, order_id=order, amount=1200), key=order)
    flagged = (await _event(kafka, "danbao.payments.events", "payments.risk.flagged", buyer_id=risky, outcome="review"))["data"]
    assert flagged["rule"] == "R-VELOCITY-BUYER" and flagged["order_id"] in orders
    staff.get(f"{platform.web_url}/console/risk")
    row = reload_until(staff, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-review='{flagged['review_id']}']"),
                       what=flagged["review_id"])[0]
    assert "R-VELOCITY-BUYER" in row.text and "11 / 10" in row.text
    row.find_element(By.CSS_SELECTOR, "input[name='note']").send_keys("买家来电核实，本人操作 / the buyer confirmed by phone")
    screenshot(staff, "console-5-risk-review")
    row.find_element(By.CSS_SELECTOR, "button[value='release']").click()
    decided = (await _event(kafka, "danbao.payments.events", "payments.risk.decided", review_id=flagged["review_id"]))["data"]
    assert (decided["decision"], decided["by"]) == ("release", "OP-1")
    await _event(kafka, "danbao.payments.events", "payments.payment.succeeded", order_id=flagged["order_id"])

    staff.get(f"{platform.web_url}/console/ledger")
    assert element(staff, "trial-balance").text.startswith("平衡") and element(staff, "balance-total").text == "¥0.00"
    screenshot(staff, "console-6-ledger")

    # a sale of M-1001's that was released (the walk-in sale above, or another test's on this shared platform)
    released = await _event(kafka, "danbao.escrow.events", "escrow.hold.released", merchant_id="M-1001")
    day = datetime.fromisoformat(released["occurred_at"]).astimezone(CHINA).date().isoformat()
    staff.get(f"{platform.web_url}/console/reports?merchant=M-1001&day={day}")
    element(staff, "report")
    assert released["data"]["order_id"] in staff.page_source
    screenshot(staff, "console-7-day-report")
    download = httpx.get(f"{platform.web_url}/console/reports.csv", params={"merchant": "M-1001", "day": day},
                         cookies=cookies_of(staff), timeout=10)
    rows = list(csv.DictReader(io.StringIO(download.text)))
    sale = next(r for r in rows if r["order_id"] == released["data"]["order_id"])
    assert download.headers["content-type"].startswith("text/csv") and sale["kind"] == "hold_released"
    assert (int(sale["gross_fen"]), int(sale["fee_fen"]), int(sale["net_fen"])) == (
        released["data"]["amount"]["amount"], released["data"]["fee"], released["data"]["net"])
    assert httpx.get(f"{platform.web_url}/console/reports.csv", params={"merchant": "M-1001", "day": day}).status_code == 403


@ON_SQLITE
async def test_an_arbitrator_rules_a_refund_request_and_the_refund_reaches_the_buyer(
        platform: LocalPlatform, kafka: Kafka, buyer: WebDriver, staff: WebDriver, tmp_path: Path) -> None:
    url, order_id = await _code(kafka, platform, 12900)
    _pay(buyer, platform, url, order_id)
    await kafka.send("danbao.escrow.commands", record_shipment(order_id), key=order_id)
    until_status(buyer, "shipped")
    click(buyer, "request-refund")
    photo = tmp_path / "scratched-screen.png"
    photo.write_bytes(PHOTO)
    element(buyer, "reason").find_element(By.CSS_SELECTOR, "option[value='not_as_described']").click()
    fill(buyer, "description", "屏幕有划痕，与描述不符 / the screen is scratched, not as described")
    element(buyer, "evidence").send_keys(str(photo))
    fill(buyer, "evidence-description", "屏幕划痕照片 / photo of the scratch")
    screenshot(buyer, "cashier-6-refund-request")
    click(buyer, "submit-refund")
    until_status(buyer, "awaiting_merchant", "case-status")
    opened = (await _event(kafka, "danbao.disputes.events", "disputes.case.opened", order_id=order_id))["data"]
    assert opened["evidence"][0]["sha256"] == hashlib.sha256(PHOTO).hexdigest()  # the file's SHA-256 is what the case keeps
    assert opened["requested"]["amount"] == 12900 and opened["reason"] == "not_as_described"
    case_id, merchant = opened["case_id"], ("merchant", "M-1001")

    counter = {"case_id": case_id, "response": "counter_offer", "amount": {"amount": 5000, "currency": "CNY"}, "note": "最多退50元"}
    await kafka.send("danbao.disputes.commands", envelope("disputes.case.respond", counter, actor=merchant), key=order_id)
    until_status(buyer, "awaiting_buyer", "case-status")
    assert "¥50.00" in element(buyer, "counter-offer").text
    screenshot(buyer, "cashier-7-counter-offer")
    click(buyer, "reject-offer")
    await _event(kafka, "danbao.disputes.events", "disputes.counter_offer.answered", case_id=case_id, accepted=False)
    until_status(buyer, "awaiting_merchant", "case-status")
    await kafka.send("danbao.disputes.commands", envelope("disputes.case.respond", {"case_id": case_id, "response": "reject"},
                                                          actor=merchant), key=order_id)
    until_status(buyer, "negotiation_failed", "case-status")
    click(buyer, "escalate")
    until_status(buyer, "in_arbitration", "case-status")
    escalated = (await _event(kafka, "danbao.disputes.events", "disputes.case.escalated", case_id=case_id))["data"]
    assert escalated["proposal"]["rule"] == "R2-not-as-described"

    _staff_sign_in(staff, platform, "ARB-1")
    staff.get(f"{platform.web_url}/console/cases")
    reload_until(staff, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-case='{case_id}'] a"), what=case_id)[0].click()
    assert "R2-not-as-described" in element(staff, "proposal").text
    assert "✓ SHA-256" in element(staff, "evidence").text and hashlib.sha256(PHOTO).hexdigest() in staff.page_source
    assert "disputes.case.escalated" in staff.page_source  # the timeline, every step of the order
    fill(staff, "ruling-reasons", "凭证显示货不对板，退货后全额退款 / not as described: full refund on return")
    screenshot(staff, "console-8-case-desk")
    click(staff, "rule")
    ruled = (await _event(kafka, "danbao.disputes.events", "disputes.case.ruled", case_id=case_id))["data"]
    assert (ruled["arbitrator_id"], ruled["decision"], ruled["amount"]["amount"]) == ("ARB-1", "full_refund", 12900)
    assert ruled["return_required"] is True  # the rule's "goods back first", as the form proposed it

    # Refund on return: the buyer sends the goods back and gives the waybill; the merchant confirms they arrived.
    until_status(buyer, "awaiting_return", "case-status")
    fill(buyer, "return-carrier", "SF Express 顺丰")
    fill(buyer, "return-tracking", "SF2026120700017")
    screenshot(buyer, "cashier-8-return")
    click(buyer, "send-return")
    until_status(buyer, "return_in_transit", "case-status")
    shipped = (await _event(kafka, "danbao.disputes.events", "disputes.return.shipped", case_id=case_id))["data"]
    assert shipped["tracking_no"] == "SF2026120700017"
    await kafka.send("danbao.disputes.commands", envelope("disputes.return.confirm_receipt", {"case_id": case_id},
                                                          actor=merchant), key=order_id)
    paid_out = (await _event(kafka, "danbao.escrow.events", "escrow.refund.paid_out", order_id=order_id))["data"]
    assert paid_out["amount"]["amount"] == 12900 and paid_out["buyer_id"] == opened["buyer_id"]
    wait(buyer, lambda d: d.find_elements(By.ID, "refund-paid"), what="the refund paid back")
    assert "¥129.00" in element(buyer, "refund-paid").text
    reload_until(staff, lambda d: d.find_elements(By.ID, "ruling"), what="the ruling")
    screenshot(staff, "console-9-ruled")
    screenshot(buyer, "cashier-9-refunded")

    # Day 2 of the three-day verification: the buyer is asked, and answers on the order page.
    await _event(kafka, "danbao.disputes.events", "disputes.verification.started", case_id=case_id)
    tag = f"clock-{case_id}"
    await kafka.send("danbao.control.commands", advance_clock(2 * 86400 + 120, tag), key="clock")
    await _event(kafka, "danbao.disputes.events", "disputes.verification.feedback_requested", case_id=case_id)
    element(buyer, "feedback-form")
    screenshot(buyer, "cashier-10-feedback")
    click(buyer, "send-feedback")
    feedback = (await _event(kafka, "danbao.disputes.events", "disputes.feedback.received", case_id=case_id))["data"]
    assert feedback["satisfied"] is True
    element(buyer, "feedback-given")
    # The edge read every event of these flows: nothing it could not read, no handler that failed.
    log = (platform.data_dir / "logs" / "web.log").read_text()
    assert "dead letter from" not in log and "handler for" not in log and '"level": "error"' not in log


def test_the_screens_are_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shots = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "docs" / "screens").glob("*.png"))
    assert shots and all(f"docs/screens/{name}" in readme for name in shots), json.dumps(shots)
