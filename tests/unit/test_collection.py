"""Collection codes, pure: issuing, the token, redeeming (order and shop codes), revoking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from services.payments import collection, domain
from services.payments.collection import CodeStatus, MerchantFacts
from services.payments.tokens import CollectionTokens, InvalidToken
from shared.contracts import collection as contracts
from shared.contracts import payments, psp
from shared.envelope import Actor
from shared.money import Money, fee_for
from shared.unit_of_work import Rejected, Waiting
from tests.factories import issue_code, redeem_code

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
TOKENS = CollectionTokens("collection-secret-for-tests", "https://pay.example/c")
MERCHANT = Actor(kind="merchant", id="M-1001")
BUYER = Actor(kind="buyer", id="B-2001")
ACTIVE = MerchantFacts("active", "retail", True)
WAIT = timedelta(minutes=15)


def _issue_command(**kwargs: Any) -> contracts.IssueCollectionCode:
    return payments.COMMANDS.parse(issue_code(kwargs.pop("code_id", "QR-1"), **kwargs)).data


def _issued(*, merchant: MerchantFacts = ACTIVE, allowed: bool = True, **kwargs: Any) -> tuple[collection.CollectionCode, str]:
    decision = collection.issue(None, _issue_command(**kwargs), MERCHANT, merchant, allowed, timedelta(minutes=30), TOKENS, NOW)
    assert decision.code is not None
    event = decision.events[0]
    assert isinstance(event, contracts.CollectionCodeIssued)
    return decision.code, event.token


def _redeem(code: collection.CollectionCode | None, token: str, *, buyer: Actor = BUYER, at: datetime = NOW,
            merchant: MerchantFacts = ACTIVE, existing: domain.Order | None = None, **kwargs: Any) -> collection.Redemption | None:
    command = payments.COMMANDS.parse(redeem_code(token, buyer=buyer.id, **kwargs)).data
    claims = collection.verify(TOKENS, command, at)
    return collection.redeem(code, claims, command, buyer, merchant, existing, None, at)


def _charged(redemption: collection.Redemption, buyer: Actor = BUYER) -> domain.Decision:
    return domain.pay(redemption.order, redemption.pay, buyer, NOW, WAIT)


def test_the_token_names_the_code_and_refuses_forgery_expiry_and_garbage() -> None:
    token = TOKENS.issue("QR-1", "M-1001", "order", NOW + timedelta(minutes=30), NOW)
    claims = TOKENS.verify(token, NOW + timedelta(minutes=29))
    assert (claims.code_id, claims.merchant_id, claims.kind) == ("QR-1", "M-1001", "order")
    assert TOKENS.url(token) == f"https://pay.example/c/{token}"
    with pytest.raises(InvalidToken, match="expired") as expired:
        TOKENS.verify(token, NOW + timedelta(minutes=30))
    assert expired.value.reason == "code_expired"
    with pytest.raises(InvalidToken, match="signature") as forged:
        CollectionTokens("another-secret-of-some-length", "u").verify(token, NOW)
    assert forged.value.reason == "invalid_code"
    header, claims_part, signature = token.split(".")
    other = TOKENS.issue("QR-1", "M-9999", "order", NOW + timedelta(minutes=30), NOW).split(".")[1]
    with pytest.raises(InvalidToken, match="signature"):  # the claims of another merchant under this signature
        TOKENS.verify(f"{header}.{other}.{signature}", NOW)
    with pytest.raises(InvalidToken, match="malformed"):
        TOKENS.verify("not-a-token", NOW)


def test_a_merchant_issues_an_order_code_once_and_only_its_own() -> None:
    code, token = _issued()
    assert code.expires_at == NOW + timedelta(minutes=30) and code.status is CodeStatus.ACTIVE
    again = collection.issue(code, _issue_command(), MERCHANT, ACTIVE, True, timedelta(minutes=30), TOKENS, NOW)
    assert again.events == []
    with pytest.raises(Rejected, match="code_exists"):
        collection.issue(code, _issue_command(unit_price=1), MERCHANT, ACTIVE, True, timedelta(minutes=30), TOKENS, NOW)
    with pytest.raises(Rejected, match="forbidden"):
        collection.issue(None, _issue_command(merchant="M-1002"), MERCHANT, ACTIVE, True, timedelta(minutes=30), TOKENS, NOW)
    with pytest.raises(Rejected, match="merchant_not_active"):
        _issued(merchant=MerchantFacts("suspended", "retail"))
    with pytest.raises(Waiting):  # onboarding's activation may still be on its way
        _issued(merchant=MerchantFacts(None))
    usd = issue_code("QR-USD")
    usd["data"]["amount"]["currency"] = "USD"
    with pytest.raises(Rejected, match="unsupported_currency"):
        collection.issue(None, payments.COMMANDS.parse(usd).data, MERCHANT, ACTIVE, True, timedelta(minutes=30), TOKENS, NOW)


def test_the_guarantee_is_offered_only_where_the_industry_allows_it() -> None:
    assert _issued()[0].guarantee_available
    assert not _issued(allowed=False)[0].guarantee_available
    assert not _issued(guarantee=False)[0].guarantee_available


def test_redeeming_an_order_code_creates_the_order_for_the_customer_and_charges_it() -> None:
    code, token = _issued(order_id="O-WALK-1", unit_price=4500)
    redemption = _redeem(code, token)
    assert redemption is not None
    redeemed, created = redemption.events
    charged = _charged(redemption)
    intent, charge = charged.events
    assert isinstance(redeemed, contracts.CollectionCodeRedeemed) and redeemed.order_id == "O-WALK-1"
    assert isinstance(created, payments.OrderCreated)
    assert (created.buyer_id, created.merchant_id, created.amount.amount, created.collection_code_id) == ("B-2001", "M-1001", 4500, "QR-1")
    assert isinstance(intent, payments.PaymentIntentCreated) and intent.method is payments.PaymentMethod.QR_CODE
    assert isinstance(charge, psp.ChargeRequested) and charge.amount.amount == 4500 and charge.buyer_ref == "B-2001"
    assert redemption.code.status is CodeStatus.USED and redemption.order.status is domain.OrderStatus.AWAITING_PAYMENT
    assert charged.order is not None and charged.order.status is domain.OrderStatus.PAYMENT_PENDING
    # single use: another customer is refused; the same customer asking again changes nothing
    with pytest.raises(Rejected, match="code_used"):
        _redeem(redemption.code, token, buyer=Actor(kind="buyer", id="B-OTHER"), existing=redemption.order)
    assert _redeem(redemption.code, token, existing=redemption.order) is None
    with pytest.raises(Rejected, match="code_used"):
        _redeem(redemption.code, token, buyer=Actor(kind="buyer", id="B-OTHER"))


def test_redeeming_is_refused_when_the_code_or_merchant_cannot_take_it() -> None:
    code, token = _issued()
    with pytest.raises(Rejected, match="code_expired"):
        _redeem(code, token, at=NOW + timedelta(minutes=31))
    with pytest.raises(Rejected, match="merchant_not_active"):
        _redeem(code, token, merchant=MerchantFacts("suspended", "retail"))
    revoked = collection.revoke(code, payments.COMMANDS.parse(
        issue_code("QR-1") | {"type": "payments.collection.revoke", "data": {"code_id": "QR-1", "merchant_id": "M-1001"}}).data,
        MERCHANT, NOW).code
    with pytest.raises(Rejected, match="code_revoked"):
        _redeem(revoked, token)
    with pytest.raises(Rejected, match="invalid_code"):  # a genuine token for a code payments does not hold
        _redeem(None, token)
    with pytest.raises(Rejected, match="amount_mismatch"):
        _redeem(code, token, amount=1)
    with pytest.raises(Rejected, match="invalid_order"):
        _redeem(code, token, order_id="O-SOMETHING-ELSE")
    bound, bound_token = _issued(code_id="QR-APP", buyer="B-2001", channel="in_app")
    with pytest.raises(Rejected, match="forbidden"):
        _redeem(bound, bound_token, buyer=Actor(kind="buyer", id="B-OTHER"))
    redemption = _redeem(bound, bound_token)
    assert redemption is not None and redemption.pay.method is payments.PaymentMethod.IN_APP
    unguaranteed, unguaranteed_token = _issued(code_id="QR-NG", allowed=False)
    with pytest.raises(Rejected, match="guarantee_unavailable"):
        _redeem(unguaranteed, unguaranteed_token)
    assert _redeem(unguaranteed, unguaranteed_token, guaranteed=False) is not None


def test_a_shop_code_takes_the_amount_the_customer_enters_every_time() -> None:
    code, token = _issued(code_id="SHOP-1", kind="shop")
    assert code.expires_at == NOW + timedelta(minutes=30) and code.amount is None
    first = _redeem(code, token, order_id="W-1", amount=1880)
    assert first is not None and first.order.amount == Money(amount=1880) and first.order.order_id == "W-1"
    second = _redeem(first.code, token, order_id="W-2", amount=990, buyer=Actor(kind="buyer", id="B-3001"))
    assert second is not None and second.code.status is CodeStatus.ACTIVE and second.code.redemptions == 2
    with pytest.raises(Rejected, match="invalid_amount"):
        _redeem(code, token, order_id="W-3")
    with pytest.raises(Rejected, match="invalid_order"):
        _redeem(code, token, amount=100)
    with pytest.raises(Rejected, match="unsupported_currency"):
        _redeem(code, token, order_id="W-4", amount=100, currency="USD")
    with pytest.raises(Rejected, match="order_exists"):  # a shop code cannot pay into another order
        _redeem(code, token, order_id="W-1", amount=100, existing=domain.Order(
            order_id="W-1", merchant_id="M-1001", buyer_id="B-2001", items=(), amount=Money(amount=100), guaranteed=True,
            auto_confirm_days=7))


def test_the_guarantee_costs_nothing_extra() -> None:
    """The same sale with and without 一键担保: the same fee (the rate does not depend on the guarantee)."""
    fees = []
    for guaranteed in (True, False):
        code, token = _issued(code_id=f"QR-{guaranteed}", order_id=f"O-{guaranteed}", unit_price=33333)
        redemption = _redeem(code, token, guaranteed=guaranteed)
        assert redemption is not None and redemption.order.guaranteed is guaranteed
        order = _charged(redemption).order
        assert order is not None
        callback = psp.ChargeCallback(intent_id=order.intent_id or "", order_id=order.order_id,
                                      status=psp.ChargeStatus.SUCCEEDED, amount=order.amount,
                                      provider_txn_id="PSP-1", signature="unchecked-here")
        settled = domain.settle_charge(order, callback, 60, NOW)
        succeeded = settled.events[0]
        assert isinstance(succeeded, payments.PaymentSucceeded) and succeeded.guaranteed is guaranteed
        fees.append(succeeded.fee)
    assert fees[0] == fees[1] == fee_for(33333, 60)
