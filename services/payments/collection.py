"""Collection codes, pure: a merchant issues one, a customer redeems it (see shared/contracts/collection.py).

    ACTIVE --redeemed (order code)--> USED
    ACTIVE --redeemed (shop code)--> ACTIVE (one more redemption)
    ACTIVE --revoked--> REVOKED          (expiry is read from ``expires_at``: an expired code stays ACTIVE)

Redeeming checks, in this order: the token (signature, expiry), the code (known, not revoked, not used, the
token's merchant), the merchant (active), the customer (the one an in-app code names), the amount (CNY; fixed
for an order code, entered for a shop code), the guarantee (offered by the code). It then creates the order
for the customer and its payment, exactly as ``payments.order.create`` and ``payments.order.pay`` would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.payments import domain
from services.payments.tokens import CodeClaims, CollectionTokens, InvalidToken
from shared.contracts.collection import (
    CollectionCodeIssued,
    CollectionCodeRedeemed,
    CollectionCodeRevoked,
    CollectionKind,
    IssueCollectionCode,
    RedeemCollectionCode,
    RevokeCollectionCode,
)
from shared.contracts.order_lines import OrderItem, PaymentMethod
from shared.contracts.payments import OrderCreated, PayOrder
from shared.envelope import Actor, ActorKind, Payload
from shared.money import Money
from shared.unit_of_work import Rejected, Waiting


class CodeStatus(StrEnum):
    ACTIVE = "active"
    USED = "used"
    REVOKED = "revoked"


@dataclass(frozen=True)
class CollectionCode:
    code_id: str
    merchant_id: str
    kind: CollectionKind
    channel: PaymentMethod
    amount: Money | None
    items: tuple[OrderItem, ...]
    order_id: str | None
    buyer_id: str | None
    guarantee_available: bool
    auto_confirm_days: int
    expires_at: datetime
    status: CodeStatus = CodeStatus.ACTIVE
    redemptions: int = 0


@dataclass(frozen=True)
class MerchantFacts:
    """What payments knows of the merchant: status None when it has not heard of it."""

    status: str | None
    industry: str = ""
    verified: bool = False


@dataclass(frozen=True)
class CodeDecision:
    code: CollectionCode | None
    events: list[Payload]


@dataclass(frozen=True)
class Redemption:
    code: CollectionCode
    order: domain.Order  # created, not yet paid: ``pay`` charges it (unless a risk rule holds it)
    events: list[Payload]  # the code's event and the order's creation
    device_id: str | None

    @property
    def pay(self) -> PayOrder:
        return PayOrder(order_id=self.order.order_id, method=self.code.channel)


def issue(existing: CollectionCode | None, command: IssueCollectionCode, actor: Actor, merchant: MerchantFacts,
          guarantee_allowed: bool, lifetime: timedelta, tokens: CollectionTokens, now: datetime) -> CodeDecision:
    """``guarantee_allowed``: the merchant's industry allows 一键担保; ``lifetime``: the default for this kind."""
    if actor.kind is not ActorKind.MERCHANT or actor.id != command.merchant_id:
        raise Rejected("forbidden", "only the merchant itself may issue its collection codes", command.code_id)
    if command.amount is not None:
        domain.require_cny(command.amount, command.code_id)
    code = CollectionCode(
        code_id=command.code_id, merchant_id=command.merchant_id, kind=command.kind, channel=command.channel,
        amount=command.amount, items=tuple(command.items), order_id=command.order_id, buyer_id=command.buyer_id,
        guarantee_available=command.guarantee and guarantee_allowed, auto_confirm_days=command.auto_confirm_days,
        expires_at=now + (timedelta(minutes=command.valid_minutes) if command.valid_minutes else lifetime))
    if existing is not None:
        if _terms(existing) == _terms(code):
            return CodeDecision(existing, [])  # the same code again: the first issue stands
        raise Rejected("code_exists", f"collection code {command.code_id} already exists with other terms", command.code_id)
    if merchant.status is None:
        raise Waiting(domain.merchant_key(command.merchant_id), "merchant_not_active",
                      f"merchant {command.merchant_id} is not active", command.code_id)
    if merchant.status != "active":
        raise Rejected("merchant_not_active", f"merchant {command.merchant_id} is {merchant.status}", command.code_id)
    token = tokens.issue(code.code_id, code.merchant_id, code.kind.value, code.expires_at, now)
    return CodeDecision(code, [CollectionCodeIssued(
        code_id=code.code_id, merchant_id=code.merchant_id, kind=code.kind, channel=code.channel, order_id=code.order_id,
        amount=code.amount, items=list(code.items), buyer_id=code.buyer_id, guarantee_available=code.guarantee_available,
        merchant_verified=merchant.verified, token=token, url=tokens.url(token), expires_at=code.expires_at)])


def revoke(code: CollectionCode | None, command: RevokeCollectionCode, actor: Actor, now: datetime) -> CodeDecision:
    if code is None:
        raise Rejected("code_not_found", f"collection code {command.code_id} does not exist", command.code_id)
    if actor.kind is not ActorKind.MERCHANT or actor.id != code.merchant_id or command.merchant_id != code.merchant_id:
        raise Rejected("forbidden", "only the code's merchant may revoke it", command.code_id)
    if code.status is CodeStatus.REVOKED:
        return CodeDecision(code, [])
    if code.status is CodeStatus.USED:
        raise Rejected("code_used", "the code has already paid its order", command.code_id)
    return CodeDecision(replace(code, status=CodeStatus.REVOKED),
                        [CollectionCodeRevoked(code_id=code.code_id, merchant_id=code.merchant_id, revoked_at=now)])


def verify(tokens: CollectionTokens, command: RedeemCollectionCode, now: datetime) -> CodeClaims:
    """The code the redemption's token names; refused ``invalid_code`` or ``code_expired``."""
    try:
        return tokens.verify(command.token, now)
    except InvalidToken as exc:
        raise Rejected(exc.reason, str(exc), command.order_id) from exc


def order_id_of(code: CollectionCode, command: RedeemCollectionCode) -> str:
    """The order a redemption creates (or created, when it is asked again)."""
    if code.kind is CollectionKind.ORDER:
        assert code.order_id is not None
        if command.order_id not in (None, code.order_id):
            raise Rejected("invalid_order", f"the code pays order {code.order_id}, not {command.order_id}", code.code_id)
        return code.order_id
    if command.order_id is None:
        raise Rejected("invalid_order", "a shop code's redemption names the new order (order_id)", code.code_id)
    return command.order_id


def redeem(code: CollectionCode | None, claims: CodeClaims, command: RedeemCollectionCode, actor: Actor,
           merchant: MerchantFacts, existing: domain.Order | None, buyer_restricted_until: datetime | None,
           now: datetime) -> Redemption | None:
    """The code redeemed and its order, to be paid; None when this redemption already happened (asked again)."""
    if code is None or code.merchant_id != claims.merchant_id or code.kind.value != claims.kind:
        raise Rejected("invalid_code", f"no collection code {claims.code_id} of merchant {claims.merchant_id}", claims.code_id)
    order_id = order_id_of(code, command)
    if existing is not None and (existing.buyer_id, existing.collection_code_id) == (actor.id, code.code_id):
        return None  # this customer's redemption, asked again: the order and its payment stand
    if code.status is CodeStatus.REVOKED:
        raise Rejected("code_revoked", "the merchant revoked this code", code.code_id)
    if code.status is CodeStatus.USED:
        raise Rejected("code_used", "this code has already paid its order", code.code_id)
    if existing is not None:
        raise Rejected("order_exists", f"order {order_id} already exists", order_id)
    if now >= code.expires_at:
        raise Rejected("code_expired", f"the code expired at {code.expires_at.isoformat()}", code.code_id)
    if actor.kind is not ActorKind.BUYER:
        raise Rejected("forbidden", "only a customer (buyer) may pay with a collection code", code.code_id)
    if code.buyer_id is not None and actor.id != code.buyer_id:
        raise Rejected("forbidden", "this code is for another customer", code.code_id)
    if merchant.status != "active":
        raise Rejected("merchant_not_active", f"merchant {code.merchant_id} is not active", code.code_id)
    if buyer_restricted_until is not None:
        raise Rejected("buyer_restricted", f"orders for buyer {actor.id} are refused until "
                       f"{buyer_restricted_until.isoformat()} after frequent cancellations", order_id)
    amount, items = _amount(code, command)
    if command.guaranteed and not code.guarantee_available:
        raise Rejected("guarantee_unavailable", "一键担保 is not offered with this code: pay without it", code.code_id)
    order = domain.Order(order_id=order_id, merchant_id=code.merchant_id, buyer_id=actor.id, items=items, amount=amount,
                         guaranteed=command.guaranteed, auto_confirm_days=code.auto_confirm_days,
                         collection_code_id=code.code_id)
    created = OrderCreated(order_id=order_id, merchant_id=order.merchant_id, buyer_id=order.buyer_id, amount=amount,
                           guaranteed=order.guaranteed, auto_confirm_days=order.auto_confirm_days, items=list(items),
                           collection_code_id=code.code_id)
    redeemed = CollectionCodeRedeemed(code_id=code.code_id, merchant_id=code.merchant_id, kind=code.kind, order_id=order_id,
                                      buyer_id=actor.id, amount=amount, guaranteed=command.guaranteed)
    used = replace(code, redemptions=code.redemptions + 1,
                   status=CodeStatus.USED if code.kind is CollectionKind.ORDER else code.status)
    return Redemption(used, order, [redeemed, created], command.device_id)


def _amount(code: CollectionCode, command: RedeemCollectionCode) -> tuple[Money, tuple[OrderItem, ...]]:
    if code.kind is CollectionKind.ORDER:
        assert code.amount is not None
        if command.amount is not None and command.amount != code.amount:
            raise Rejected("amount_mismatch", f"the code is for {code.amount}, not {command.amount}", code.code_id)
        return code.amount, code.items
    if command.amount is None or command.amount.amount <= 0:
        raise Rejected("invalid_amount", "a shop code's customer enters a positive amount", code.code_id)
    domain.require_cny(command.amount, code.code_id)
    item = OrderItem(sku=f"SHOP-{code.code_id}"[:64], name="扫码付款 / Shop QR payment", quantity=1,
                     unit_price=command.amount.amount)
    return command.amount, (item,)


def _terms(code: CollectionCode) -> tuple[object, ...]:
    return (code.merchant_id, code.kind, code.channel, code.amount, code.items, code.order_id, code.buyer_id,
            code.guarantee_available, code.auto_confirm_days)
