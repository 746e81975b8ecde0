"""The web edge: the cashier (收银台) for buyers and the operator console for staff, server-rendered.

Composition only: which events feed the read models, which command topics it writes, the pages and the
middleware (security headers, the session cookie). ``danbao serve web`` runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.web import cashier, console, orders
from services.web.commands import Commands
from services.web.config import WebSettings
from services.web.pages import HERE, WebState, environment, error_handler, language_route, see_other
from services.web.projections import escrow_handlers, payments_handlers
from services.web.projections_staff import control_handlers, dead_letter_recorded, disputes_handlers, onboarding_handlers
from services.web.runtime import EdgeRuntime
from services.web.security import SecurityHeaders
from shared import logs, serving, topics
from shared.contracts import control, disputes, escrow, notifications, onboarding, payments
from shared.contracts.common import DeadLetter, dead_letter_contract
from shared.runtime import Subscription
from shared.settings import PlatformSettings

DEFAULT_PORT = 8120
# The command topics its people's commands go to: buyers' (payments, escrow, disputes, notifications) and staff's
# (onboarding's reviews, disputes' rulings, the control topic's dead-letter replays).
WRITES = [payments.COMMANDS, escrow.COMMANDS, disputes.COMMANDS, notifications.COMMANDS, onboarding.COMMANDS,
          control.COMMANDS]


def subscriptions() -> list[Subscription]:
    return [
        Subscription(payments.EVENTS, payments_handlers(payments.EVENTS.types()), group_suffix="payments-events"),
        Subscription(escrow.EVENTS, escrow_handlers(escrow.EVENTS.types()), group_suffix="escrow-events"),
        Subscription(disputes.EVENTS, disputes_handlers(disputes.EVENTS.types()), group_suffix="disputes-events"),
        Subscription(onboarding.EVENTS, onboarding_handlers(onboarding.EVENTS.types()), group_suffix="onboarding-events"),
        Subscription(control.EVENTS, control_handlers(control.EVENTS.types()), group_suffix="control-events"),
        *(Subscription(dead_letter_contract(service), {DeadLetter.TYPE: dead_letter_recorded(service)},
                       group_suffix=f"{service}-dlq") for service in topics.SERVICES),
    ]


def build(settings: WebSettings | None = None, platform: PlatformSettings | None = None) -> WebEdge:
    settings = settings or WebSettings()
    return WebEdge(EdgeRuntime(settings, subscriptions(), WRITES, platform))


class WebEdge:
    def __init__(self, runtime: EdgeRuntime) -> None:
        self.runtime = runtime
        self.state = WebState(runtime, Commands(runtime.settings), environment())

    @property
    def port(self) -> int:
        return self.runtime.settings.http_port or self.runtime.platform.http_port or DEFAULT_PORT

    def app(self, start_runtime: bool = True) -> Starlette:
        """The ASGI app; ``start_runtime=False`` serves the pages over the database only (handler tests)."""
        state, settings = self.state, self.runtime.settings

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            if start_runtime:
                await self.runtime.start()
            else:
                await self.runtime.start_storage()
            try:
                yield
            finally:
                if start_runtime:
                    await self.runtime.stop()
                else:
                    await self.runtime.db.dispose()

        async def root(request: Request) -> Response:
            return see_other("/orders")

        routes = [
            *self.runtime.health_routes(), Route("/", root), language_route(state),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            *cashier.routes(state), *orders.routes(state), *console.routes(state),
        ]
        middleware = [
            Middleware(SecurityHeaders, production=settings.production),
            Middleware(SessionMiddleware, secret_key=settings.session_secret, session_cookie="danbao_session",
                       max_age=settings.session_hours * 3600, same_site="lax", https_only=settings.production),
        ]
        app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                        exception_handlers={HTTPException: error_handler(state)})
        # Behind a TLS-terminating proxy the browser's Origin is the public address, not the one the request arrived at.
        public = urlsplit(settings.public_url) if settings.public_url else None
        app.state.public_origin = f"{public.scheme}://{public.netloc}" if public and public.netloc else None
        return app

    def run(self) -> None:
        platform = self.runtime.platform
        logs.configure("web", platform.log_level)
        # The pages and /health/live answer at once; the runtime starts behind them (shared/serving.py).
        # No access log: a cashier URL carries a collection code's token, and the pages' forms carry no more.
        serving.serve(self.app(), "web", platform.http_host, self.port, start=self.runtime.start, stop=self.runtime.stop,
                      access_log=False)
