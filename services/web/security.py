"""Web hygiene: security headers (a strict Content-Security-Policy), CSRF tokens on every form, the session's
people (a buyer, a staff member), and the buyer's id from the phone.

- The session is a signed cookie (Starlette's SessionMiddleware: HttpOnly, SameSite=Lax, Secure in production)
  holding ids only: a buyer's pseudonymous id or a staff id, the CSRF token, the time of sign-in.
- A phone number never appears in a URL, a cookie, a log line or a topic: it is posted in a form, turned into
  the buyer's id by an HMAC (stable and not reversible without the key), kept encrypted, and shown masked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.pii import check_phone

CSRF_FIELD = "csrf_token"


class SecurityHeaders:
    """Adds the security headers to every response: no script, style, frame or form target but this origin's."""

    def __init__(self, app: ASGIApp, *, production: bool, form_targets: str = "") -> None:
        self.app = app
        policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                  f"form-action 'self'{(' ' + form_targets) if form_targets else ''}; frame-ancestors 'none'; "
                  "base-uri 'none'; object-src 'none'")
        self.headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
                        "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                        "Permissions-Policy": "camera=(), microphone=(), geolocation=()"}
        if production:
            self.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- CSRF ----------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every form carries it in a hidden field."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def checked_form(request: Request) -> FormData:
    """The posted form, if it carries the session's CSRF token and comes from this origin; else 403."""
    origin = request.headers.get("origin")
    ours = {f"{request.url.scheme}://{request.url.netloc}", getattr(request.app.state, "public_origin", None)}
    if origin and origin != "null" and origin.rstrip("/") not in ours:
        raise HTTPException(403, "cross-origin form")
    form = await request.form()
    expected = request.session.get("csrf")
    sent = form.get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), str(expected).encode()):
        raise HTTPException(403, "missing or wrong CSRF token")
    return form


# -- people in the session ---------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    principal_id: str
    roles: frozenset[str]


def signed_in_since(request: Request, max_hours: int) -> bool:
    since = request.session.get("since")
    return isinstance(since, (int, float)) and time.time() - since < max_hours * 3600


def current_buyer(request: Request, max_hours: int) -> str | None:
    buyer = request.session.get("buyer")
    return str(buyer) if buyer and signed_in_since(request, max_hours) else None


def current_staff(request: Request, max_hours: int) -> Staff | None:
    staff = request.session.get("staff")
    if not isinstance(staff, dict) or not signed_in_since(request, max_hours):
        return None
    return Staff(str(staff["id"]), frozenset(staff.get("roles", [])))


def sign_in(request: Request, **who: Any) -> None:
    """A fresh session for who signed in (a new CSRF token too: nothing carries over from before)."""
    request.session.clear()
    request.session.update(who)
    request.session["since"] = int(time.time())
    csrf_token(request)


# -- buyers from phones --------------------------------------------------------------------------


def normalized_phone(raw: str) -> str | None:
    """The 11-digit mainland mobile number in ``raw`` (spaces, dashes and +86 allowed), or None."""
    digits = re.sub(r"[\s-]", "", raw or "")
    digits = digits.removeprefix("+86").removeprefix("0086")
    return digits if check_phone(digits) is None else None


def buyer_id_for(phone: str, key: str) -> str:
    """The buyer's id: ``B-`` and 24 hex digits of HMAC-SHA256(key, phone). The same phone always gives the same
    id; without the key the id says nothing about the phone. (Hex never spells the provider simulator's
    ``B-POOR``/``B-LATE``… test prefixes.)"""
    return "B-" + hmac.new(key.encode(), phone.encode(), hashlib.sha256).hexdigest()[:24].upper()


def code_digest(key: str, challenge_id: str, code: str) -> str:
    return hmac.new(key.encode(), f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def require(condition: bool, status: int = 403, detail: str = "forbidden") -> None:
    if not condition:
        raise HTTPException(status, detail)


def staff_or_403(request: Request, max_hours: int, role: str) -> Staff:
    """The signed-in staff member holding ``role``, for a form post; 403 otherwise."""
    staff = current_staff(request, max_hours)
    require(staff is not None and role in staff.roles, 403, "forbidden")
    assert staff is not None
    return staff
