"""The console's sign-in through an OpenID Connect identity provider (a small one served here), and its operator
and arbitrator desks over the edge's read models: dead letters and their replay, the ledger and trial balance, a
merchant's day report and its CSV, the case desk's ruling."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.web.config import WebSettings
from shared.business_days import CHINA
from shared.contracts import control, disputes, escrow
from shared.contracts.common import DeadLetter
from shared.money import Money
from tests.handlers.web_harness import Web, running, verify, web  # noqa: F401 - the fixture


class IdentityProvider:
    """Discovery, keys and a token endpoint: the ID token names ``staff_id`` and carries the authorize request's nonce."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "idp-1", "use": "sig"})
        self.staff_id, self.nonce = "ARB-1", ""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                base = provider.url
                documents = {"/.well-known/openid-configuration": {
                    "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"]},
                    "/jwks": {"keys": [provider.key.as_dict(private=False)]}}
                self._json(documents.get(self.path.split("?")[0]))

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                now = int(time.time())
                claims = {"iss": provider.url, "aud": "danbao-console", "sub": f"sub-{provider.staff_id}", "iat": now,
                          "exp": now + 300, "nonce": provider.nonce, "preferred_username": provider.staff_id}
                token = jwt.encode({"alg": "RS256", "kid": "idp-1"}, claims, provider.key)
                self._json({"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": token})

            def _json(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    try:
        yield provider
    finally:
        provider.stop()


def _oidc_sign_in(console: Web, idp: IdentityProvider, staff_id: str) -> Any:
    idp.staff_id = staff_id
    start = console.client.get("/console/signin/oidc", follow_redirects=False)
    assert start.status_code == 302 and start.headers["location"].startswith(f"{idp.url}/authorize?")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(start.headers["location"]).query)
    assert query["client_id"] == ["danbao-console"] and query["redirect_uri"] == ["http://testserver/console/oidc/callback"]
    idp.nonce = query["nonce"][0]
    return console.client.get("/console/oidc/callback", params={"code": "c-1", "state": query["state"][0]})


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idp: IdentityProvider) -> Iterator[Web]:
    """The edge with staff signing in through ``idp`` only."""
    settings = WebSettings(oidc_metadata_url=f"{idp.url}/.well-known/openid-configuration", oidc_client_id="danbao-console",
                           oidc_client_secret="secret", dev_sign_in=False)
    yield from running(tmp_path, monkeypatch, settings)


def test_staff_sign_in_through_the_identity_provider_and_get_their_roster_roles(console: Web, idp: IdentityProvider) -> None:
    page = console.client.get("/console").text
    assert 'id="sso"' in page and "dev-ARB-1" not in page
    assert console.client.post("/console/signin/dev", data={"csrf_token": console.csrf("/orders"),
                                                            "principal": "OP-1"}).status_code == 404
    signed_in = _oidc_sign_in(console, idp, "ARB-1")
    assert signed_in.status_code == 200 and "/console/cases" in signed_in.text and "/console/reviews" not in signed_in.text
    assert console.client.get("/console/cases").status_code == 200

    console.client.post("/console/signout", data={"csrf_token": console.csrf("/console/cases")})
    stranger = _oidc_sign_in(console, idp, "EMP-404")  # the provider knows them; the roster does not
    assert stranger.status_code == 403 and console.client.get("/console/cases").status_code == 401
    forged = console.client.get("/console/oidc/callback", params={"code": "c-2", "state": "not-the-state"})
    assert forged.status_code == 403 and console.client.get("/console/cases").status_code == 401


def _staff(web: Web, principal: str) -> None:
    web.client.post("/console/signin/dev", data={"csrf_token": web.csrf("/console"), "principal": principal})


def _ledger_entry(entry_id: str, kind: str, order_id: str, lines: dict[str, int]) -> escrow.LedgerEntryPosted:
    return escrow.LedgerEntryPosted(entry_id=entry_id, order_id=order_id, kind=kind, currency="CNY",
                                    lines=[escrow.LedgerLine(account=a, amount=v) for a, v in lines.items()])


def test_an_operator_reads_the_ledger_and_a_day_report_and_replays_a_dead_letter(web: Web) -> None:  # noqa: F811
    web.feed("danbao.escrow.events", "escrow",
             _ledger_entry("JE-1", "payment_held", "O-R-1", {"payment_clearing": 8800, "escrow_holding": -8800}),
             _ledger_entry("JE-2", "hold_released", "O-R-1", {"escrow_holding": 8800, "platform_fees": -53,
                                                             "merchant_available:M-1001": -8747}))
    letter = DeadLetter(reason="invalid_payload", detail="data.amount: Field required", consumer="payments",
                        source_topic="danbao.payments.commands", source_partition=1, source_offset=7, source_key="O-BAD-1",
                        original="{}", original_encoding="utf-8")
    web.feed("danbao.payments.dlq", "payments", letter)
    _staff(web, "OP-1")
    ledger = web.client.get("/console/ledger").text
    assert 'id="trial-balance" class="ok"' in ledger and "¥88.00" in ledger and "merchant_available:M-1001" in ledger
    assert '<td class="num" id="balance-total">¥0.00</td>' in ledger

    day = datetime.now(CHINA).date().isoformat()
    report = web.client.get("/console/reports", params={"merchant": "M-1001", "day": day}).text
    assert "O-R-1" in report and "hold_released" in report and "¥87.47" in report
    download = web.client.get("/console/reports.csv", params={"merchant": "M-1001", "day": day})
    assert download.headers["content-disposition"] == f'attachment; filename="M-1001-{day}.csv"'
    assert download.text.splitlines()[1].endswith(",hold_released,JE-2,O-R-1,8800,53,8747")
    assert web.client.get("/console/reports.csv", params={"merchant": "../etc", "day": day}).status_code == 400

    letters = web.client.get("/console/deadletters").text
    assert "invalid_payload" in letters and "O-BAD-1" in letters and "data.amount: Field required" in letters
    letter_id = re.findall(r'data-dead-letter="([^"]+)"', letters)[0]
    web.client.post(f"/console/deadletters/{letter_id}/replay", data={"csrf_token": web.csrf("/console/deadletters")})
    (replay,) = web.outbox("control.deadletter.replay")
    claims = verify(replay)
    assert replay["data"] == {"service": "payments", "dead_letter_id": letter_id} and claims.roles == frozenset({"operator"})
    assert (claims.issuer, replay["actor"]) == ("operator-console", {"kind": "operator", "id": "OP-1"})
    web.feed("danbao.control.events", "payments", control.DeadLetterReplayed(service="payments", dead_letter_id=letter_id,
                                                                            outcome="dead_lettered", replayed_by="OP-1"))
    assert "dead_lettered (OP-1)" in web.client.get("/console/deadletters").text
    assert web.client.get("/console/cases").status_code == 403  # an operator is no arbitrator


def test_an_arbitrator_sees_the_rule_tables_proposal_and_rules(web: Web) -> None:  # noqa: F811
    parties = {"case_id": "C-DESK-1", "order_id": "O-DESK-1", "buyer_id": "B-1", "merchant_id": "M-1001"}
    web.feed("danbao.disputes.events", "disputes",
             disputes.CaseOpened(**parties, reason="price_difference", requested=Money(amount=3800, currency="CNY"),
                                 paid=Money(amount=12900, currency="CNY"), description="差价38元", evidence=[
                                     disputes.Evidence(reference="evidence/1.jpg", sha256="ab" * 32, description="截图")],
                                 respond_by=datetime(2026, 12, 9, tzinfo=timezone.utc)),
             disputes.CaseEscalated(**parties, proposal=disputes.RuleProposal(
                 rule="R4-price-difference", decision="partial_refund", amount=Money(amount=3800, currency="CNY"),
                 return_required=False, text="差价有凭证：退还差价 / price difference proven: refund the difference")))
    _staff(web, "ARB-1")
    desk = web.client.get("/console/cases").text
    assert 'data-case="C-DESK-1"' in desk
    case = web.client.get("/console/cases/C-DESK-1").text
    assert "R4-price-difference" in case and "¥38.00" in case and "ab" * 32 in case and 'id="ruling-form"' in case
    web.client.post("/console/cases/C-DESK-1/rule", data={
        "csrf_token": web.csrf("/console/cases/C-DESK-1"), "decision": "partial_refund", "amount": "38",
        "reasons": "差价属实 / the difference is proven"})
    (rule,) = web.outbox("disputes.case.rule")
    assert rule["data"]["amount"] == {"amount": 3800, "currency": "CNY"} and rule["data"]["decision"] == "partial_refund"
    assert rule["actor"] == {"kind": "arbitrator", "id": "ARB-1"} and verify(rule).roles == frozenset({"arbitrator"})


def test_an_operator_releases_a_payment_a_risk_rule_held(web: Web) -> None:  # noqa: F811
    from shared.contracts import risk

    flagged = risk.RiskFlagged(review_id="RR-O-RISK-1-1", subject="payment", subject_id="O-RISK-1", order_id="O-RISK-1",
                               merchant_id="M-1001", buyer_id="B-RISKY", rule="R-VELOCITY-BUYER", outcome="review",
                               observed=11, threshold=10, window_minutes=10, detail="11 payments by B-RISKY in 10 minutes; at most 10")
    blocked = flagged.model_copy(update={"review_id": "RR-O-RISK-2-1", "subject_id": "O-RISK-2", "order_id": None,
                                         "rule": "R-FAILED-ATTEMPTS", "outcome": risk.RiskOutcome.BLOCK})
    web.feed("danbao.payments.events", "payments", flagged, blocked)
    _staff(web, "RV-1")
    assert web.client.get("/console/risk").status_code == 403  # operators only
    web.client.post("/console/signout", data={"csrf_token": web.csrf("/console")})
    _staff(web, "OP-1")
    assert "/console/risk" in web.client.get("/console").text
    queue = web.client.get("/console/risk").text
    assert 'data-review="RR-O-RISK-1-1"' in queue and "11 / 10 (10 min)" in queue and "R-FAILED-ATTEMPTS" in queue
    short = web.client.post("/console/risk/RR-O-RISK-1-1", data={"csrf_token": web.csrf("/console/risk"),
                                                                 "decision": "release", "note": "x"})
    assert "error=refused" in str(short.url) and web.outbox("payments.risk.decide") == []  # a note says why
    web.client.post("/console/risk/RR-O-RISK-1-1", data={"csrf_token": web.csrf("/console/risk"), "decision": "release",
                                                         "note": "买家来电核实 / verified by phone"})
    (decide,) = web.outbox("payments.risk.decide")
    assert decide["data"] == {"review_id": "RR-O-RISK-1-1", "decision": "release", "note": "买家来电核实 / verified by phone"}
    assert decide["actor"] == {"kind": "operator", "id": "OP-1"} and verify(decide).roles == frozenset({"operator"})
    web.feed("danbao.payments.events", "payments", risk.RiskReviewDecided(
        review_id="RR-O-RISK-1-1", subject="payment", subject_id="O-RISK-1", merchant_id="M-1001", buyer_id="B-RISKY",
        decision="release", by="OP-1", note="买家来电核实 / verified by phone", decided_at=datetime.now(timezone.utc)))
    after = web.client.get("/console/risk").text
    assert 'data-review="RR-O-RISK-1-1"' in after.split('id="risk-done"')[1] and "release · OP-1" in after
