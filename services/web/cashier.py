"""The cashier (收银台) at ``/c/<token>``: the code a customer scanned or opened, the merchant and its badge,
the amount and items (or an amount to enter), 一键担保, the payment method; sign-in with a phone and a one-time
SMS code; paying (``payments.collection.redeem``, signed by the buyer app for this buyer)."""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import httpx
from sqlmodel import col, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web.i18n import parse_yuan
from services.web.pages import WebState, local_path, render, see_other
from services.web.projections import token_digest
from services.web.security import (buyer_id_for, checked_form, code_digest, current_buyer, new_code, normalized_phone,
                                   require, sign_in)
from services.web.store import BuyerAccount, CodeView, MerchantView, OrderView, SignInCode
from shared.envelope import ActorKind
from shared.pii import mask_phone
from shared.timers import as_utc

log = logging.getLogger("danbao.web.cashier")


def routes(state: WebState) -> list[Route]:
    settings = state.settings

    async def code_page(request: Request) -> Response:
        token = request.path_params["token"]
        request.session["return_to"] = f"/c/{token}"
        async with state.db.transaction() as session:
            code = (await session.exec(select(CodeView).where(CodeView.token_digest == token_digest(token)))).first()
            merchant = await session.get(MerchantView, code.merchant_id) if code else None
            paid = None
            buyer = current_buyer(request, settings.session_hours)
            if code is not None and buyer and code.kind == "order" and code.order_id:
                order = await session.get(OrderView, code.order_id)
                paid = order if order is not None and order.buyer_id == buyer else None
        state_of_code = None if code is None else _code_state(code)
        return render(state, request, "cashier/code.html", status=200 if code else 404, code=code, merchant=merchant,
                      token=token, code_state=state_of_code, paid=paid, error=request.query_params.get("error"),
                      buyer=current_buyer(request, settings.session_hours),
                      phone_masked=request.session.get("phone_masked"), challenge=request.session.get("challenge"))

    async def pay(request: Request) -> Response:
        form = await checked_form(request)
        token = request.path_params["token"]
        buyer = current_buyer(request, settings.session_hours)
        if buyer is None:
            return see_other(f"/c/{token}")
        async with state.db.transaction() as session:
            code = (await session.exec(select(CodeView).where(CodeView.token_digest == token_digest(token)))).first()
            require(code is not None, 404, "not_found")
            assert code is not None
            if _code_state(code) != "active":
                return see_other(f"/c/{token}")
            if code.kind == "order":
                order_id, amount = code.order_id, None
            else:
                fen = parse_yuan(str(form.get("amount", "")))
                if fen is None:
                    return see_other(f"/c/{token}?error=bad_amount")
                order_id = f"W-{datetime.now(timezone.utc):%Y%m%d}-{uuid.uuid4().hex[:10]}"
                amount = {"amount": fen, "currency": code.currency}
            guaranteed = code.guarantee_available and form.get("guaranteed") == "yes"
            device = request.session.setdefault("device", f"DEV-{secrets.token_hex(6)}")
            assert order_id is not None
            await state.commands.queue(session, "payments.collection.redeem", {
                "token": token, "order_id": order_id, "amount": amount, "guaranteed": guaranteed, "device_id": device,
            }, (ActorKind.BUYER, buyer), key=code.code_id, aggregate_id=order_id, correlation_id=f"flow-{order_id}")
        state.runtime.relay.wake()
        return see_other(f"/orders/{order_id}")

    async def send_code(request: Request) -> Response:
        form = await checked_form(request)
        back = local_path(request.session.get("return_to"), "/orders")
        phone = normalized_phone(str(form.get("phone", "")))
        if phone is None:
            return see_other(_with_error(back, "bad_phone"))
        buyer = buyer_id_for(phone, settings.phone_key)
        now = datetime.now(timezone.utc)
        challenge, code = secrets.token_urlsafe(16), new_code()
        async with state.db.transaction() as session:
            recent = (await session.exec(select(func.count()).select_from(SignInCode).where(
                SignInCode.buyer_id == buyer, col(SignInCode.created_at) > now - timedelta(hours=1)))).one()
            if recent >= settings.codes_per_hour:
                return see_other(_with_error(back, "too_many_codes"))
            session.add(SignInCode(challenge_id=challenge, buyer_id=buyer, code_digest=code_digest(settings.phone_key, challenge, code),
                                   phone_encrypted=settings.cipher().encrypt(phone, f"sign-in:{challenge}"),
                                   created_at=now, expires_at=now + timedelta(minutes=settings.code_minutes)))
        if not await _send_sms(state, challenge, phone, code):
            return see_other(_with_error(back, "sms_failed"))
        request.session["challenge"], request.session["phone_masked"] = challenge, mask_phone(phone)
        return see_other(back)

    async def verify_code(request: Request) -> Response:
        form = await checked_form(request)
        back = local_path(request.session.get("return_to"), "/orders")
        challenge = request.session.get("challenge")
        entered = str(form.get("code", "")).strip()
        now = datetime.now(timezone.utc)
        async with state.db.transaction() as session:
            row = await session.get(SignInCode, challenge) if isinstance(challenge, str) else None
            if row is None or row.used or as_utc(row.expires_at) < now or row.attempts >= settings.code_attempts:
                return see_other(_with_error(back, "bad_code"))
            row.attempts += 1
            session.add(row)
            if not secrets.compare_digest(row.code_digest, code_digest(settings.phone_key, row.challenge_id, entered)):
                return see_other(_with_error(back, "bad_code"))
            row.used = True
            phone = settings.cipher().decrypt(row.phone_encrypted, f"sign-in:{row.challenge_id}")
            account = await session.get(BuyerAccount, row.buyer_id)
            if account is None:
                account = BuyerAccount(buyer_id=row.buyer_id, phone_encrypted=settings.cipher().encrypt(phone, f"buyer:{row.buyer_id}"),
                                       phone_masked=mask_phone(phone), created_at=now, signed_in_at=now)
                # The buyer is told about their orders by SMS: the phone goes to notifications sealed to its key.
                await state.commands.queue(session, "notifications.contact.register", {
                    "party": "buyer", "party_id": row.buyer_id, "phone": phone,
                    "language": "en" if request.session.get("lang") == "en" else "zh-CN",
                }, (ActorKind.BUYER, row.buyer_id), key=row.buyer_id)
            account.signed_in_at = now
            session.add(account)
            buyer, masked = row.buyer_id, account.phone_masked
        sign_in(request, buyer=buyer, phone_masked=masked, lang=request.session.get("lang"), return_to=back)
        state.runtime.relay.wake()
        return see_other(back)

    async def sign_out(request: Request) -> Response:
        await checked_form(request)
        lang = request.session.get("lang")
        request.session.clear()
        if lang:
            request.session["lang"] = lang
        return see_other("/orders")

    return [Route("/c/{token}", code_page), Route("/c/{token}/pay", pay, methods=["POST"]),
            Route("/signin/code", send_code, methods=["POST"]), Route("/signin/verify", verify_code, methods=["POST"]),
            Route("/signout", sign_out, methods=["POST"])]


def _code_state(code: CodeView) -> str:
    if code.status != "active":
        return code.status
    return "expired" if as_utc(code.expires_at) <= datetime.now(timezone.utc) else "active"


def _with_error(path: str, error: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}error={error}"


async def _send_sms(state: WebState, challenge: str, phone: str, code: str) -> bool:
    """The code to the SMS gateway (the messaging simulator locally); the log names the challenge, never the phone."""
    settings = state.settings
    text = f"【担保】您的登录验证码是{code}，{settings.code_minutes}分钟内有效。Danbao sign-in code: {code}"
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(f"{settings.sms_url.rstrip('/')}/messages",
                                         json={"message_id": f"SIGNIN-{challenge}", "to": phone, "text": text},
                                         headers={"Authorization": f"Bearer {settings.sms_api_key}",
                                                  "Idempotency-Key": f"SIGNIN-{challenge}"})
    except httpx.HTTPError as exc:
        log.warning("sign-in code %s not sent: %s", challenge, type(exc).__name__)
        return False
    if response.status_code >= 300:
        log.warning("sign-in code %s refused by the SMS gateway: %d", challenge, response.status_code)
        return False
    return True
