"""Through the real broker and processes: every command type is refused ``unauthenticated`` without a
token, from an unknown issuer, expired, replayed or bound to another payload; a good token for an actor
who may not act is ``forbidden``. Each refusal is the only thing its command causes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from joserfc.jwk import OKPKey

from ops.kafka import read
from ops.platform import LocalPlatform
from shared import topics
from shared.assertions import Signer, development_signer, issuer_for
from tests import factories as f
from tests.fuzzing import COMMANDS, CONTROL
from tests.integration.conftest import Kafka

pytestmark = pytest.mark.integration

EVENT_TOPICS = [topics.events(s) for s in topics.SERVICES] + [topics.CONTROL_EVENTS]
def _roster() -> list[dict[str, Any]]:
    """Commands no fuzz sample has: the roster's and a dead-letter replay."""
    return [
    f.envelope("control.roster.grant", {"principal_id": "ARB-2", "role": "arbitrator", "reason": "new"}, actor=("admin", "ADMIN-1")),
    f.envelope("control.roster.revoke", {"principal_id": "ARB-2", "role": "arbitrator", "reason": "left"}, actor=("admin", "ADMIN-1")),
    f.envelope("control.deadletter.replay", {"service": "payments", "dead_letter_id": str(uuid.uuid4())}, actor=("operator", "OP-1")),
    ]


async def _answers(kafka: Kafka, causes: set[str], expected: int, timeout: float = 120) -> dict[str, list[dict[str, Any]]]:
    """Everything the services published that ``causes`` caused, once ``expected`` messages (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[dict[str, Any]]] = {}
        for topic in EVENT_TOPICS:
            async for record in read(kafka.bootstrap, topic, idle_timeout=1.0):
                message = json.loads(record.value)
                if message.get("causation_id") in causes:
                    found.setdefault(message["causation_id"], []).append(message)
        if sum(map(len, found.values())) >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1)


def _every_command() -> list[tuple[str, dict[str, Any]]]:
    """(topic, a well-formed signed command) for every command type the platform takes."""
    found = {c.document["type"]: (t.contract.topic, c.document) for t in [*COMMANDS.values(), CONTROL] for c in t.commands}
    for document in _roster():
        found.setdefault(document["type"], (topics.CONTROL_COMMANDS, document))
    return sorted(found.values(), key=lambda td: td[1]["type"])


def _new(document: dict[str, Any], token: Any = None, **changes: Any) -> dict[str, Any]:
    """The command as a new message (its own event id and correlation id) with ``token`` (None: no token)."""
    fresh = {k: v for k, v in document.items() if k != "token"} | changes
    fresh |= {"event_id": str(uuid.uuid4()), "correlation_id": f"trust-{uuid.uuid4().hex[:12]}"}
    return fresh if token is None else {**fresh, "token": token}


def _issued(document: dict[str, Any], signer: Signer, **options: Any) -> str:
    actor = document["actor"]
    return signer.issue(kind=actor["kind"], subject=actor["id"], type_=document["type"], data=document["data"],
                        roles=[actor["kind"]], **options)


def _refusals(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    kind = document["actor"]["kind"]
    own = development_signer(issuer_for(kind))
    impostor = Signer("edge-nobody-trusts", OKPKey.generate_key("Ed25519", parameters={"kid": "k1"}))
    other_data = {**document["data"], "extra_field_the_contract_ignores": "x"}
    return {
        "no token": _new(document),
        "unknown issuer": _new(document, _issued(document, impostor)),
        "expired": _new(document, _issued(document, own, now=time.time() - 3600)),
        "bound to another payload": _new(document, _issued(document, own), data=other_data),
        # the token of a command already sent (the "good" message sent first), on a new message
        "replayed": _new(document, "REPLAY"),
    }


async def test_every_command_type_is_refused_without_a_good_token_and_changes_nothing(platform: LocalPlatform, kafka: Kafka) -> None:
    sent: dict[str, tuple[str, str, int]] = {}  # event id -> (command type, what is wrong, rejections expected)
    for topic, document in _every_command():
        key = next((document["data"][k] for k in ("order_id", "merchant_id", "case_id", "party_id", "principal_id",
                                                   "dead_letter_id") if k in document["data"]), "k")
        answering = len(topics.SERVICES) if topic == topics.CONTROL_COMMANDS else 1
        good = _new(document, _issued(document, development_signer(issuer_for(document["actor"]["kind"]))))
        await kafka.send(topic, good, key=key)  # it may act or be refused by the domain: its token is spent either way
        for what, bad in _refusals(document).items():
            if bad.get("token") == "REPLAY":
                bad["token"] = good["token"]
            await kafka.send(topic, bad, key=key)
            sent[bad["event_id"]] = (document["type"], what, answering)

    found = await _answers(kafka, set(sent), sum(n for _, _, n in sent.values()))
    problems = []
    for event_id, (type_, what, answering) in sent.items():
        answers = found.get(event_id, [])
        kinds = sorted({m["type"].split(".", 1)[1] for m in answers})
        reasons = {m["data"].get("reason") for m in answers}
        if len(answers) != answering or kinds != ["command.rejected"] or reasons != {"unauthenticated"}:
            problems.append(f"{type_} {what}: {[(m['type'], m['data'].get('reason'), m['data'].get('detail')) for m in answers]}")
    assert not problems, "\n".join(problems)
    assert {t for t, _, _ in sent.values()} == {d["type"] for _, d in _every_command()}  # every command type was tried


def _forbidden() -> dict[str, tuple[str, dict[str, Any]]]:
    """Well-signed commands (signed now: tokens live minutes) whose actors may not send them."""
    return {
    "a buyer rules a case": (topics.commands("disputes"), f.envelope(
        "disputes.case.rule", {"case_id": "C-TRUST-1", "decision": "full_refund", "reasons": "我说了算"}, actor=("buyer", "B-2001"))),
    "a merchant confirms receipt for its buyer": (topics.commands("escrow"), f.envelope(
        "escrow.receipt.confirm", {"order_id": "O-TRUST-1"}, actor=("merchant", "M-1001"))),
    "an arbitrator approves an application": (topics.commands("onboarding"), f.envelope(
        "onboarding.review.decide", {"merchant_id": "M-TRUST-1", "decision": "approve"}, actor=("arbitrator", "ARB-1"))),
    "an operator not on the roster as reviewer approves an application": (topics.commands("onboarding"), f.envelope(
        "onboarding.review.decide", {"merchant_id": "M-TRUST-1", "decision": "approve"}, actor=("reviewer", "OP-1"))),
    "a reviewer replays a dead letter": (topics.CONTROL_COMMANDS, f.envelope(
        "control.deadletter.replay", {"service": "payments", "dead_letter_id": str(uuid.uuid4())}, actor=("reviewer", "RV-1"))),
    }


async def test_a_proven_actor_who_may_not_act_is_forbidden_and_changes_nothing(platform: LocalPlatform, kafka: Kafka) -> None:
    forbidden = _forbidden()
    for _, (topic, document) in forbidden.items():
        await kafka.send(topic, document, key="k")
    ids = {document["event_id"]: what for what, (_, document) in forbidden.items()}
    answers = await _answers(kafka, set(ids), len(ids) + len(topics.SERVICES) - 1)  # the control command: every service
    for event_id, what in ids.items():
        got = answers.get(event_id, [])
        assert got and {m["type"].split(".", 1)[1] for m in got} == {"command.rejected"}, f"{what}: {got}"
        assert {m["data"]["reason"] for m in got} == {"forbidden"}, f"{what}: {[m['data'] for m in got]}"
