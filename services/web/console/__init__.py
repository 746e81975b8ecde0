"""The operator console (``/console``): sign-in, then one desk per file: merchant reviews, the case desk, dead
letters, risk reviews, the ledger and merchants' day reports. Every action is one command signed by the operator-console issuer
for the staff member signed in, who must hold the desk's role on the roster."""

from __future__ import annotations

from starlette.routing import Route

from services.web.console import auth, cases, deadletters, ledger, reviews, risk
from services.web.pages import WebState


def routes(state: WebState) -> list[Route]:
    return [*auth.routes(state), *reviews.routes(state), *cases.routes(state), *deadletters.routes(state),
            *ledger.routes(state), *risk.routes(state)]
