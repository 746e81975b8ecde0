"""Staff sign-in: the development accounts (OP-1, RV-1, ARB-1) in dev and test mode; in production only OIDC
(authlib), configured by settings. Either way the roles are the roster's (as the services announce it): someone
the identity provider knows but the roster does not gets no desk."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web.pages import WebState, local_path, render, see_other
from services.web.security import Staff, checked_form, current_staff, require, sign_in
from services.web.store import CaseView, DeadLetterView, MerchantView, RiskReviewView, roles_of
from shared.authority import DEV_ROSTER
from shared.envelope import ActorKind

log = logging.getLogger("danbao.web.console")

DESKS = {"reviews": "reviewer", "cases": "arbitrator", "risk": "operator", "deadletters": "operator", "ledger": "operator",
         "reports": "operator"}


def staff_for(state: WebState, request: Request, role: str | None = None) -> Staff:
    """The signed-in staff member (holding ``role``, if given); 403 otherwise (the sign-in page when nobody is)."""
    staff = current_staff(request, state.settings.session_hours)
    if staff is None:
        request.session["return_to"] = request.url.path
        raise NotSignedIn()
    require(role is None or role in staff.roles, 403, "forbidden")
    return staff


class NotSignedIn(Exception):
    """Nobody is signed in to the console: show the sign-in page."""


def actor(staff: Staff, role: str) -> tuple[ActorKind, str]:
    return ActorKind(role), staff.principal_id


def oauth_client(state: WebState) -> Any:
    """The OIDC client (authlib), or None when the settings name no identity provider."""
    settings = state.settings
    if not settings.oidc_enabled:
        return None
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register("staff", server_metadata_url=settings.oidc_metadata_url, client_id=settings.oidc_client_id,
                   client_secret=settings.oidc_client_secret, client_kwargs={"scope": "openid profile"})
    return oauth.create_client("staff")


def routes(state: WebState) -> list[Route]:
    settings = state.settings
    oauth = oauth_client(state)

    async def signed_in(request: Request, principal: str) -> Response:
        async with state.db.transaction() as session:
            roles = await roles_of(session, principal)
        if not roles:
            log.warning("sign-in refused: %s is on no roster", principal)
            return render(state, request, "console/signin.html", status=403, error="forbidden", **_sign_in_context(state))
        back = local_path(request.session.get("return_to"), "/console")
        sign_in(request, staff={"id": principal, "roles": sorted(roles)}, lang=request.session.get("lang"))
        return see_other(back if back.startswith("/console") else "/console")

    async def home(request: Request) -> Response:
        staff = current_staff(request, settings.session_hours)
        if staff is None:
            return render(state, request, "console/signin.html", **_sign_in_context(state))
        async with state.db.transaction() as session:
            counts = {
                "reviews": await _count(session, MerchantView, MerchantView.status == "review"),
                "cases": await _count(session, CaseView, CaseView.status == "in_arbitration"),
                "deadletters": await _count(session, DeadLetterView, DeadLetterView.replayed_by == None),  # noqa: E711
                "risk": await _count(session, RiskReviewView, (RiskReviewView.outcome == "review")
                                     & (RiskReviewView.decision == None)),  # noqa: E711
            }
        desks = [desk for desk, role in DESKS.items() if role in staff.roles]
        return render(state, request, "console/home.html", staff=staff, desks=desks, counts=counts)

    async def dev_sign_in(request: Request) -> Response:
        form = await checked_form(request)
        require(settings.development_sign_in, 404, "not_found")
        principal = str(form.get("principal", ""))
        require(principal in DEV_ROSTER, 403, "forbidden")
        return await signed_in(request, principal)

    async def oidc_login(request: Request) -> Response:
        require(oauth is not None, 404, "not_found")
        public = settings.public_url.rstrip("/")
        callback = f"{public}/console/oidc/callback" if public else str(request.url_for("oidc_callback"))
        return await oauth.authorize_redirect(request, callback)  # type: ignore[union-attr]

    async def oidc_callback(request: Request) -> Response:
        require(oauth is not None, 404, "not_found")
        from authlib.integrations.base_client import OAuthError

        try:
            token = await oauth.authorize_access_token(request)  # type: ignore[union-attr]
        except OAuthError as exc:
            log.warning("OIDC sign-in failed: %s", exc.error)
            return render(state, request, "console/signin.html", status=403, error="forbidden", **_sign_in_context(state))
        claims = token.get("userinfo") or {}
        principal = str(claims.get(settings.oidc_staff_claim, ""))[:64]
        require(bool(principal), 403, "forbidden")
        return await signed_in(request, principal)

    async def sign_out(request: Request) -> Response:
        await checked_form(request)
        lang = request.session.get("lang")
        request.session.clear()
        if lang:
            request.session["lang"] = lang
        return see_other("/console")

    return [Route("/console", home), Route("/console/signin/dev", dev_sign_in, methods=["POST"]),
            Route("/console/signin/oidc", oidc_login), Route("/console/oidc/callback", oidc_callback, name="oidc_callback"),
            Route("/console/signout", sign_out, methods=["POST"])]


def _sign_in_context(state: WebState) -> dict[str, Any]:
    return {"dev_accounts": DEV_ROSTER if state.settings.development_sign_in else {},
            "sso": state.settings.oidc_enabled}


async def _count(session: Any, model: Any, condition: Any) -> int:
    return int((await session.exec(select(func.count()).select_from(model).where(condition))).one())


Page = Callable[[Request], Awaitable[Response]]


def staff_page(state: WebState, role: str, page: Callable[[Request, Staff], Awaitable[Response]]) -> Page:
    """A console page for ``role``: the sign-in page when nobody is signed in, 403 without the role."""

    async def handle(request: Request) -> Response:
        try:
            staff = staff_for(state, request, role)
        except NotSignedIn:
            return render(state, request, "console/signin.html", status=401, **_sign_in_context(state))
        return await page(request, staff)

    return handle
