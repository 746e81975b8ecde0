"""What every page shares: the templates (with the language, the CSRF token, money and time helpers), the
edge's state handed to the routes, redirects that stay on this site, and the error pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from services.web import i18n
from services.web.commands import Commands
from services.web.config import WebSettings
from services.web.runtime import EdgeRuntime
from services.web.security import csrf_token

HERE = Path(__file__).parent


@dataclass
class WebState:
    runtime: EdgeRuntime
    commands: Commands
    env: Environment

    @property
    def settings(self) -> WebSettings:
        return self.runtime.settings

    @property
    def db(self) -> Any:
        return self.runtime.db


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(yuan=i18n.yuan, china_time=i18n.china_time)
    return env


def language(request: Request) -> str:
    chosen = request.session.get("lang")
    if chosen in i18n.LANGUAGES:
        return str(chosen)
    accepted = request.headers.get("accept-language", "")
    return "en" if accepted.lower().startswith("en") else "zh-CN"


def render(state: WebState, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    page = state.env.get_template(template).render(
        request=request, lang=lang, csrf=csrf_token(request),
        t=lambda key: i18n.translate(key, lang), step_label=lambda type_: i18n.step_label(type_, lang),
        step_details=lambda summary, for_buyer=False: i18n.step_details(summary, lang, for_buyer), **context)
    return HTMLResponse(page, status_code=status)


def local_path(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site (never another host), else ``default``."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def language_route(state: WebState) -> Route:
    async def choose(request: Request) -> Response:
        lang = request.path_params["lang"]
        if lang in i18n.LANGUAGES:
            request.session["lang"] = lang
        return see_other(local_path(request.query_params.get("next"), "/"))

    return Route("/lang/{lang}", choose)


def error_handler(state: WebState) -> Any:
    async def handle(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        key = {404: "not_found", 403: "forbidden"}.get(status, "refused")
        return render(state, request, "error.html", status=status, message=key)

    return handle
