"""Notifications, pure parts: templates in both languages, who is told on which channel,
retries and give-up, webhook signatures (and the README's verification example), settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import typing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from jinja2 import UndefinedError
from pydantic import BaseModel, ValidationError

from services.notifications import domain
from services.notifications.channels import Outgoing, PinnedTarget, WebhookChannel, pinned_target
from services.notifications.domain import AttemptResult, Category, Reach, RetryPolicy, State
from services.notifications.handlers import webhook_url_problem
from services.notifications.templates import FOLDER, render
from shared.contracts.notifications import Language
from services.notifications.webhooks import SignatureError, secret_id, sign, verify
from shared.contracts import CONTRACTS, disputes, escrow, onboarding, payments
from shared.contracts.notifications import Channel, Language, PartyKind
from shared.money import Money
from shared.pii import FieldCipher, UnreadableValue, development_keys, mask_token, parse_keys
from shared.sealing import generate_private_jwk

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
PAYLOADS = {c.TYPE: c for contract in (payments.EVENTS, escrow.EVENTS, onboarding.EVENTS, disputes.EVENTS)
            for c in contract.payloads.values()}


def sample(model: type[BaseModel]) -> dict[str, Any]:
    """A payload built from the examples its contract documents (a time without one: two days after T0)."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if field.examples:
            values[name] = field.examples[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            values[name] = sample(annotation)
        elif origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            values[name] = [sample(args[0])]
        elif annotation is datetime:
            values[name] = T0 + timedelta(days=2)
    return model.model_validate(values).model_dump()


RULES = [(event_type, rule) for event_type, rules in domain.RULES.items() for rule in rules if set(rule.channels) - {Channel.WEBHOOK}]


@pytest.mark.parametrize(("event_type", "rule"), RULES, ids=[f"{t}:{r.role.value}" for t, r in RULES])
def test_every_message_renders_in_both_languages_on_each_of_its_channels(event_type: str, rule: domain.Rule) -> None:
    data = sample(PAYLOADS[event_type])
    if event_type == "onboarding.activation.code_issued":
        data["activation_code"] = "402913"  # the handler opens the sealed code before rendering
    names = {str(v) for v in data.values() if isinstance(v, str)} | {"顺丰", "跑步鞋"}
    for language in Language:
        rendered = render(rule.template, language, data)
        assert rendered.subject and rendered.short and rendered.body
        for channel in set(rule.channels) - {Channel.WEBHOOK}:
            content = rendered.for_channel(channel)
            assert all(content.values())
        own_words = rendered.subject + rendered.body
        for name in names:
            own_words = own_words.replace(name, "")
        assert bool(CJK.search(own_words)) is (language is Language.ZH_CN), f"{rule.template} in {language}: {own_words}"


def test_each_template_file_belongs_to_a_rule_in_both_languages() -> None:
    for language in Language:
        files = {p.stem for p in (FOLDER / language.value).glob("*.txt") if not p.stem.startswith("_")}
        assert files == domain.templates()


def test_amounts_times_and_reasons_read_naturally_in_each_language() -> None:
    data = sample(payments.PaymentSucceeded)
    zh, en = render("payment_succeeded.buyer", Language.ZH_CN, data), render("payment_succeeded.buyer", Language.EN, data)
    assert zh.for_channel(Channel.SMS)["text"] == "【担保】您已为订单 O-20261123-0001 付款 ¥129.00。资金由担保平台托管，您确认收货后才付给商家。"
    assert en.for_channel(Channel.SMS)["text"] == "[Danbao] You paid CNY 129.00 for order O-20261123-0001. Danbao holds the money until you confirm receipt."
    assert "扫码支付" in zh.body and "(QR code, transaction PSP-7d2a9c)" in en.body
    email = en.for_channel(Channel.EMAIL)
    assert email["subject"] == "Payment for order O-20261123-0001 received"
    assert email["text"].startswith("Hello,\n\nYou paid CNY 129.00") and email["text"].rstrip().endswith("please do not reply to it.")
    shipped = sample(escrow.ShipmentRecorded)  # 2026-11-30T08:30Z is 16:30 in China
    assert "2026-11-30 16:30（北京时间）" in render("shipment_recorded.buyer", Language.ZH_CN, shipped).short
    assert "2026-11-30 16:30 (China time)" in render("shipment_recorded.buyer", Language.EN, shipped).short
    failed = {**sample(payments.PaymentFailed), "reason": "insufficient_balance"}
    assert "余额不足" in render("payment_failed.buyer", Language.ZH_CN, failed).short
    assert "insufficient balance" in render("payment_failed.buyer", Language.EN, failed).short


def _both(template: str, data: dict[str, Any]) -> tuple[str, str]:
    """The zh-CN and English text (subject, short and body) of a template."""
    out = []
    for language in (Language.ZH_CN, Language.EN):
        rendered = render(template, language, data)
        assert rendered.subject and rendered.short and rendered.body
        out.append("\n".join([rendered.subject, rendered.short, rendered.body]))
    return out[0], out[1]


def _dispute(model: type[BaseModel], **changes: Any) -> dict[str, Any]:
    return model.model_validate(sample(model) | changes).model_dump()


def test_every_dispute_code_a_message_shows_has_a_label_in_both_languages() -> None:
    from services.notifications.templates import LABELS

    codes = {*disputes.CaseReason, *disputes.RulingDecision, "merchant_accepted", "counter_offer_accepted", "merchant_silent",
             "agreed", "ruled", "resolved", "unverified", "withdrawn", "not_escalated", "buyer_silent",
             "cancelled_before_shipment", "return_not_shipped", "merchant_confirmed", "deadline_passed",
             "merchant_balance_short", "case_open", "already_shipped", "amount_mismatch", "already_settled", "no_hold"}
    for language in Language:
        assert {str(code) for code in codes} <= set(LABELS[language]), language


def test_the_merchant_learns_of_a_request_with_its_amount_and_deadline_and_the_buyer_of_each_answer() -> None:
    opened = sample(disputes.CaseOpened)  # respond_by 2026-11-25T08:30Z: 16:30 in China
    zh, en = _both("case_opened.merchant", opened)
    assert "¥129.00（价格不符）" in zh and "2026-11-25 16:30（北京时间） 前处理，逾期未处理视为同意" in zh
    assert "CNY 129.00 on order O-20261123-0001 (price difference)" in en and "by 2026-11-25 16:30 (China time)" in en
    money = Money(amount=6000).model_dump()
    accepted = _dispute(disputes.MerchantResponded, response="accept", note=None)
    rejected = _dispute(disputes.MerchantResponded, response="reject", note=None)
    countered = _dispute(disputes.MerchantResponded, response="counter_offer", amount=money)
    assert "商家同意了订单 O-20261123-0001 退款 ¥129.00" in _both("merchant_responded.buyer", accepted)[0]
    assert "The merchant rejected" in _both("merchant_responded.buyer", rejected)[1]
    zh, en = _both("merchant_responded.buyer", countered)
    assert "提出退款 ¥60.00（您申请 ¥129.00）" in zh and "offers a refund of CNY 60.00" in en and "please return the goods first" in en
    again = _dispute(disputes.CounterOfferAnswered, amount=money, respond_by=T0 + timedelta(days=2))
    zh, en = _both("counter_offer_answered.merchant", again)
    assert "拒绝了" in zh and "2026-11-25 16:00（北京时间） 前再次处理" in zh and "answer again by 2026-11-25 16:00 (China time)" in en
    taken = _dispute(disputes.CounterOfferAnswered, amount=money, accepted=True)
    assert "The buyer accepted your offer of CNY 60.00" in _both("counter_offer_answered.merchant", taken)[1]
    silent = _dispute(disputes.NegotiationAgreed, how="merchant_silent")
    assert "商家逾期未处理，视为同意" in _both("negotiation_agreed.merchant", silent)[0]


def test_escalation_rulings_and_the_end_of_a_case_read_right_for_each_outcome() -> None:
    failed = _dispute(disputes.NegotiationFailed, escalate_by=T0 + timedelta(days=7))
    assert "2026-11-30 16:00 (China time); then the case closes" in _both("negotiation_failed.buyer", failed)[1]
    proposal = sample(disputes.RuleProposal)
    zh, en = _both("case_escalated.merchant", _dispute(disputes.CaseEscalated, proposal=proposal))
    assert "R1-not-delivered" in zh and "全额退款 ¥129.00" in zh and "full refund of CNY 129.00. The arbitrator decides." in en
    assert "R1-" not in _both("case_escalated.merchant", sample(disputes.CaseEscalated))[1]  # no rule applies
    refused = _dispute(disputes.CaseRuled, decision="reject", amount=Money(amount=0).model_dump(), return_required=False)
    zh, en = _both("case_ruled.buyer", refused)
    assert "驳回退款申请。" in zh and "¥0.00" not in zh and "refund refused." in en and "pays the refund" not in en
    partial = _dispute(disputes.CaseRuled, decision="partial_refund", amount=Money(amount=3800).model_dump(), return_required=True)
    zh, en = _both("case_ruled.merchant", partial)
    assert "部分退款 ¥38.00" in zh and "买家需先退回商品" in zh and "partial refund of CNY 38.00. The buyer sends the goods back first." in en
    nothing = _dispute(disputes.VerificationStarted, outcome=Money(amount=0).model_dump(), basis="ruled",
                       day1_at=T0 + timedelta(days=1), day2_at=T0 + timedelta(days=2), day3_at=T0 + timedelta(days=3))
    zh, en = _both("verification_started.buyer", nothing)
    assert "平台裁决：不予退款" in zh and "第 3 天 2026-11-26 16:00（北京时间）：结果生效" in zh
    assert "Day 1, 2026-11-24 16:00 (China time)" in en and "ruled by Danbao: no refund" in en
    withdrawn = _dispute(disputes.CaseClosed, outcome="withdrawn", refunded=Money(amount=0).model_dump())
    zh, en = _both("case_closed.buyer", withdrawn)
    assert "（买家已撤回申请）。" in zh and "¥0.00" not in zh and "(withdrawn by the buyer)." in en
    owed = _dispute(disputes.CaseClosed, compensated=5000)
    assert "其中平台先行赔付 ¥50.00，将从您之后的收入中优先扣回" in _both("case_closed.merchant", owed)[0]


def test_priority_compensation_tells_the_buyer_the_platform_paid_and_the_merchant_what_it_owes() -> None:
    granted = _dispute(disputes.CompensationGranted, amount=Money(amount=10000).model_dump(), uncovered=2900)
    zh, en = _both("compensation_granted.buyer", granted)
    assert "先行赔付给您 ¥100.00" in zh and "¥29.00 不在先行赔付范围内" in zh and "Danbao pays you CNY 100.00" in en
    zh, en = _both("compensation_granted.merchant", granted)
    assert "将从您之后的收入中优先扣回" in zh and "You owe it to Danbao; it is recovered from your later income first." in en


def test_dispute_messages_go_to_the_parties_the_event_names() -> None:
    data = sample(disputes.CaseOpened) | {"buyer_id": "B-9", "merchant_id": "M-9"}
    reach = {(PartyKind.BUYER, "B-9"): Reach(push=True), (PartyKind.MERCHANT, "M-9"): Reach(email=True, webhook=True)}
    planned = domain.plan("e-9", "disputes.case.opened", data, None, reach)
    assert [(p.rule.template, p.recipient_id, p.channel) for p in planned] == [
        ("case_opened.buyer", "B-9", Channel.PUSH), ("case_opened.merchant", "M-9", Channel.EMAIL),
        ("case_opened.merchant", "M-9", Channel.WEBHOOK)]


def test_a_missing_field_is_an_error_never_a_blank() -> None:
    with pytest.raises(UndefinedError):
        render("activation_code.merchant", Language.EN, {"activation_code": "402913"})


# -- who is told, where ---------------------------------------------------------------------


def test_channels_follow_the_contact_and_muting_spares_transactional_messages() -> None:
    data = sample(payments.PaymentSucceeded) | {"buyer_id": "B-1", "merchant_id": "M-1"}
    reach = {(PartyKind.BUYER, "B-1"): Reach(phone=True, push=True, muted=frozenset({Channel.PUSH}), language=Language.EN),
             (PartyKind.MERCHANT, "M-1"): Reach(email=True, webhook=True, muted=frozenset({Channel.EMAIL}))}
    planned = domain.plan("e-1", "payments.payment.succeeded", data, None, reach)
    assert [(p.rule.role, p.channel, p.language) for p in planned] == [
        (PartyKind.BUYER, Channel.SMS, Language.EN), (PartyKind.BUYER, Channel.PUSH, Language.EN),  # transactional: muting ignored
        (PartyKind.MERCHANT, Channel.EMAIL, Language.ZH_CN), (PartyKind.MERCHANT, Channel.WEBHOOK, Language.ZH_CN)]
    created = sample(payments.OrderCreated) | {"buyer_id": "B-1", "merchant_id": "M-1"}
    updates = domain.plan("e-2", "payments.order.created", created, None, reach)
    assert [(p.rule.role, p.channel) for p in updates] == [(PartyKind.MERCHANT, Channel.WEBHOOK)]  # muted push, muted e-mail
    assert len({p.notification_id for p in planned}) == 4
    assert [p.notification_id for p in domain.plan("e-1", "payments.payment.succeeded", data, None, reach)] == [
        p.notification_id for p in planned]  # the same event plans the same ids


def test_someone_without_a_contact_is_recorded_as_skipped_and_webhook_only_rules_stay_quiet() -> None:
    shipped = sample(escrow.ShipmentRecorded)
    planned = domain.plan("e-3", "escrow.shipment.recorded", shipped, ("M-1", "B-1"), {})
    assert [(p.rule.role, p.recipient_id, p.channel, p.skipped_reason) for p in planned] == [(PartyKind.BUYER, "B-1", None, "no_contact")]
    assert domain.plan("e-4", "escrow.shipment.recorded", shipped, None, {}) == []  # parties unknown: nobody named
    code = sample(onboarding.ActivationCodeIssued)
    (only,) = domain.plan("e-5", "onboarding.activation.code_issued", code, None, {(PartyKind.MERCHANT, "M-1001"): Reach(phone=True, webhook=True)})
    assert (only.channel, only.skipped_reason) == (None, "no_address")  # the code goes by e-mail only, never SMS or webhook


def test_transactional_and_optional_messages_are_classified() -> None:
    optional = {r.template for rules in domain.RULES.values() for r in rules if r.category is Category.UPDATE}
    assert optional == {"order_created.buyer", "order_created.merchant", "order_expired.buyer", "order_expired.merchant",
                        "payout_scheduled.merchant", "shipment_recorded.merchant", "direct_order_shipped.merchant",
                        "application_received.merchant",
                        "review_required.merchant", "case_opened.buyer", "verification_started.buyer",
                        "verification_started.merchant"}


# -- delivery ---------------------------------------------------------------------------------


def test_backoff_doubles_is_capped_and_gives_up_at_the_horizon() -> None:
    policy = RetryPolicy(base_seconds=30, factor=2, max_delay_seconds=3600, horizon_seconds=3 * 86400)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]
    assert policy.next_attempt(T0, 1, T0) == T0 + timedelta(seconds=30)
    assert policy.next_attempt(T0, 50, T0 + timedelta(days=3) - timedelta(minutes=30)) is None


def test_after_an_attempt() -> None:
    policy = RetryPolicy(30, 2, 3600, 300)
    assert domain.after_attempt(1, T0, AttemptResult(True, "ok"), T0, policy).state is State.SENT
    assert domain.after_attempt(1, T0, AttemptResult(False, "HTTP 400", permanent=True), T0, policy) == domain.Transition(State.FAILED, None, "rejected")
    assert domain.after_attempt(2, T0, AttemptResult(False, "HTTP 500"), T0 + timedelta(seconds=30), policy) == domain.Transition(
        State.RETRYING, T0 + timedelta(seconds=90))
    assert domain.after_attempt(4, T0, AttemptResult(False, "timeout"), T0 + timedelta(seconds=210), policy).reason == "horizon_passed"


@pytest.mark.parametrize(("status", "webhook", "ok", "permanent"), [
    (200, True, True, False), (204, False, True, False), (500, True, False, False), (404, True, False, False),
    (404, False, False, True), (429, False, False, False), (503, False, False, False), (301, True, False, False)])
def test_what_an_http_answer_means(status: int, webhook: bool, ok: bool, permanent: bool) -> None:
    result = domain.http_result(status, webhook=webhook)
    assert (result.ok, result.permanent, result.status_code) == (ok, permanent, status)


# -- webhooks ---------------------------------------------------------------------------------

BODY = b'{"type":"payments.order.created","data":{"order_id":"O-1"}}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    header = sign(BODY, ["s3cret"], 1763886600)
    expected = hmac.new(b"s3cret", b"1763886600." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1763886600,v1={expected}"
    assert verify(BODY, header, "s3cret", now=1763886600 + 299) == 1763886600


@pytest.mark.parametrize("problem", ["stale", "future", "tampered", "other secret", "no timestamp", "no signature"])
def test_a_receiver_rejects_bad_signatures(problem: str) -> None:
    header, body, secret, now = sign(BODY, ["s3cret"], 1763886600), BODY, "s3cret", 1763886600.0
    if problem == "stale":
        now += 301
    elif problem == "future":
        now -= 301
    elif problem == "tampered":
        body = BODY.replace(b"O-1", b"O-2")
    elif problem == "other secret":
        secret = "guess"
    elif problem == "no timestamp":
        header = header.split(",", 1)[1]
    else:
        header = header.split(",", 1)[0]
    with pytest.raises(SignatureError):
        verify(body, header, secret, now=now)


def test_during_a_rotation_either_secret_verifies() -> None:
    header = sign(BODY, ["new-secret", "old-secret"], 1763886600)
    assert header.count("v1=") == 2
    for secret in ("new-secret", "old-secret"):
        assert verify(BODY, header, secret, now=1763886600)
    with pytest.raises(SignatureError):
        verify(BODY, header, "older-secret", now=1763886600)
    assert secret_id("new-secret") == hashlib.sha256(b"new-secret").hexdigest()[:12]


def test_the_readmes_verification_example_works() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Verifying webhooks", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - our own documentation
    import time

    now = int(time.time())
    assert namespace["verify"](BODY, sign(BODY, ["whsec_x"], now), "whsec_x")
    assert namespace["verify"](BODY, sign(BODY, ["new", "whsec_x"], now), "whsec_x")
    assert not namespace["verify"](BODY, sign(BODY, ["whsec_x"], now - 301), "whsec_x")
    assert not namespace["verify"](BODY + b" ", sign(BODY, ["whsec_x"], now), "whsec_x")


@pytest.mark.parametrize(("url", "allow_private", "problem"), [
    ("https://shop.example.com/hook", False, None), ("http://shop.example.com/hook", False, "webhooks must use https"),
    ("https://10.0.0.5/hook", False, "the host is a private, loopback or reserved address"),
    ("https://127.0.0.1/hook", False, "the host is a private, loopback or reserved address"),
    ("https://localhost/hook", False, "localhost is not reachable from the platform"),
    ("http://127.0.0.1:9000/hook", True, None)])
def test_production_webhooks_are_https_to_public_hosts(url: str, allow_private: bool, problem: str | None) -> None:
    assert webhook_url_problem(url, allow_private) == problem


def _resolver(*addresses: str) -> Any:
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if not addresses:
            raise OSError("no such host")
        return list(addresses)

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(("addresses", "problem"), [
    (("10.1.2.3",), "the host resolves to a private, loopback or reserved address"),
    (("93.184.216.34", "127.0.0.1"), "the host resolves to a private, loopback or reserved address"),  # any one is enough
    (("169.254.169.254",), "the host resolves to a private, loopback or reserved address"),  # cloud metadata
    (("fd00::1",), "the host resolves to a private, loopback or reserved address"),
    ((), "the host name does not resolve (OSError)")])
async def test_a_webhook_host_that_resolves_inside_is_refused_at_delivery(addresses: tuple[str, ...], problem: str) -> None:
    assert await pinned_target("https://shop.example.com/hook", _resolver(*addresses)) == problem


async def test_a_public_webhook_host_is_posted_to_the_address_that_was_checked() -> None:
    resolver = _resolver("93.184.216.34", "2606:2800:220:1::1")
    target = await pinned_target("https://shop.example.com:8443/hook?x=1", resolver)
    assert resolver.asked == [("shop.example.com", 8443)]
    assert isinstance(target, PinnedTarget)
    assert target.url == "https://93.184.216.34:8443/hook?x=1"
    assert target.headers == {"Host": "shop.example.com:8443"}
    assert target.extensions == {"sni_hostname": "shop.example.com"}  # TLS still checks the name's certificate
    v6 = await pinned_target("https://shop.example.com/hook", _resolver("2606:2800:220:1::1"))
    assert isinstance(v6, PinnedTarget) and v6.url == "https://[2606:2800:220:1::1]/hook" and v6.headers == {"Host": "shop.example.com"}


async def test_a_refused_webhook_attempt_opens_no_connection_and_says_why() -> None:
    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be made, got {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(no_network)) as client:
        channel = WebhookChannel(client, resolver=_resolver("127.0.0.1"))
        result = await channel.send(Outgoing("N-1", Channel.WEBHOOK, "E-1", "payments.order.created",
                                             "https://rebound.example.com/hook", {"body": "{}"}, ("whsec_x",)))
    assert not result.ok and result.detail == "refused: the host resolves to a private, loopback or reserved address"

    seen: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(accept)) as client:
        channel = WebhookChannel(client, resolver=_resolver("93.184.216.34"))
        result = await channel.send(Outgoing("N-2", Channel.WEBHOOK, "E-2", "payments.order.created",
                                             "https://shop.example.com/hook", {"body": "{}"}, ("whsec_x",)))
    assert result.ok
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34/hook" and request.headers["host"] == "shop.example.com"
    assert request.extensions["sni_hostname"] == "shop.example.com"


# -- secrets and the contact seal ---------------------------------------------------------------


def test_production_refuses_the_development_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.notifications.config import NotificationsSettings

    monkeypatch.setenv("DANBAO_MODE", "production")
    with pytest.raises(ValidationError, match="DANBAO_NOTIFICATIONS_PII_KEYS"):
        NotificationsSettings()
    keys = "k1:" + "A" * 43 + "="
    for name in ("PII_KEYS", "CONTACT_SEAL_KEYS"):
        monkeypatch.setenv(f"DANBAO_NOTIFICATIONS_{name}", keys)
    monkeypatch.setenv("DANBAO_NOTIFICATIONS_PII_CURRENT_KEY_ID", "k1")
    with pytest.raises(ValidationError, match="API_KEY"):
        NotificationsSettings()
    monkeypatch.setenv("DANBAO_NOTIFICATIONS_SMS_API_KEY", "sms-live")
    monkeypatch.setenv("DANBAO_NOTIFICATIONS_PUSH_API_KEY", "push-live")
    with pytest.raises(ValidationError, match="DANBAO_NOTIFICATIONS_SEAL_PRIVATE_KEYS still holds the development key"):
        NotificationsSettings()
    monkeypatch.setenv("DANBAO_NOTIFICATIONS_SEAL_PRIVATE_KEYS", json.dumps({"keys": [generate_private_jwk("2026-11")]}))
    assert NotificationsSettings().cipher().current == "k1"
    assert NotificationsSettings().seal_keys().current == "2026-11"


def test_a_sealed_contact_opens_only_with_the_shared_key() -> None:
    seal = FieldCipher(parse_keys(development_keys("contact seal")), "dev-only-k1")
    sealed = onboarding.MerchantContactProvided.seal("M-1", "13812345678", "a@example.com", seal)
    assert (sealed.phone_masked, sealed.email_masked) == ("138****5678", "a***@example.com")
    assert sealed.unseal(seal) == ("13812345678", "a@example.com")
    with pytest.raises(UnreadableValue):
        sealed.unseal(FieldCipher(parse_keys(development_keys()), "dev-only-k1"))  # the PII key is another key
    moved = sealed.model_copy(update={"merchant_id": "M-2"})
    with pytest.raises(UnreadableValue):
        moved.unseal(seal)  # bound to its merchant
    assert mask_token("dvc-0123456789ab") == "dvc-…89ab" and mask_token("short") == "****"


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "examples").glob("*.json")), ids=lambda p: p.name)
def test_the_example_messages_are_valid(path: Path) -> None:
    document = json.loads(path.read_text())
    service = document["type"].split(".")[0]
    CONTRACTS[f"danbao.{service}.commands"].parse(document)


def test_webhook_urls_are_shown_without_credentials_or_query() -> None:
    from services.notifications.webhooks import host_of, shown_url

    url = "https://user:pa55@shop.example.com:8443/hook?token=t0k3n"
    assert shown_url(url) == "https://shop.example.com:8443/hook" and host_of(url) == "shop.example.com:8443"


def test_the_cancelling_party_s_note_reaches_the_other_party() -> None:
    data = {"order_id": "O-1", "merchant_id": "M-1001", "buyer_id": "B-2001", "party": "merchant", "reason": "out_of_stock",
            "refunded": {"amount": 12900, "currency": "CNY"}, "note": "尺码缺货 / size sold out"}
    assert "商家留言：尺码缺货 / size sold out" in render("order_cancelled.buyer", Language.ZH_CN, data).body
    assert "The merchant wrote: 尺码缺货 / size sold out" in render("order_cancelled.buyer", Language.EN, data).body
    assert "wrote" not in render("order_cancelled.buyer", Language.EN, data | {"note": None}).body
