"""Every command proves who sent it (a token from a trusted issuer, bound to the command), the actor
may send it (its kind, the roster), and a refusal changes nothing. On the in-memory test broker."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from sqlmodel import select

from services.payments.app import build as build_payments
from services.payments.store import load_order
from shared import topics
from shared.assertions import Signer, development_signer
from shared.authority import RosterEntry, UsedToken
from tests.factories import create_order, encode, envelope, sign
from tests.handlers.harness import published, serving
from shared.workspace import Workspace

COMMANDS, EVENTS = topics.commands("payments"), topics.events("payments")


@pytest.fixture
async def payments(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build_payments()) as running:
        yield running


def _unsigned(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "token"}


def _token(document: dict[str, Any], signer: Signer | None = None, **options: Any) -> str:
    actor = document["actor"]
    return (signer or development_signer("merchant-gateway")).issue(
        kind=actor["kind"], subject=actor["id"], type_=document["type"], data=document["data"], **options)


def _spoiled(order_id: str) -> dict[str, dict[str, Any]]:
    """The same order creation with a token that proves nothing, one way each."""
    good = create_order(order_id)
    stranger = Signer("merchant-gateway", OKPKey.generate_key("Ed25519", parameters={"kid": "dev-only-merchant-gateway-1"}))
    unknown = Signer("my-own-gateway", OKPKey.generate_key("Ed25519", parameters={"kid": "k1"}))
    return {
        "no token": _unsigned(good),
        "not a JWS": {**good, "token": "hello.world"},
        "forged (a key the issuer never published)": {**good, "token": _token(good, stranger)},
        "unknown issuer": {**good, "token": _token(good, unknown)},
        "expired": {**good, "token": _token(good, now=time.time() - 3600)},
        "lives too long": {**good, "token": _token(good, ttl_seconds=86400)},
        "another audience": {**good, "token": _token(good, audience="escrow")},
        "bound to another payload": {**good, "data": {**good["data"], "buyer_id": "B-9999"}},
        "another actor": {**good, "actor": {"kind": "merchant", "id": "M-1002"}},
        "issuer may not assert merchants": {**good, "token": _token(good, development_signer("buyer-app"))},
    }


async def test_a_command_without_a_good_token_is_refused_unauthenticated_and_changes_nothing(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    spoiled = _spoiled("O-AUTH-1")
    for document in spoiled.values():
        await broker.publish(encode({**document, "event_id": str(uuid.uuid4())}), COMMANDS, key=b"O-AUTH-1")
    rejected = await _all(runtime, "payments.command.rejected", len(spoiled))
    assert [m["data"]["reason"] for m in rejected] == ["unauthenticated"] * len(spoiled), [m["data"] for m in rejected]
    details = " | ".join(m["data"]["detail"] for m in rejected)
    for expected in ("no token", "not a compact JWS", "bad signature", "unknown issuer", "expired", "lives longer",
                     "not 'payments'", "bound to another command", "not the token's subject", "may not assert merchant"):
        assert expected in details, details
    assert not [m for m in runtime.sent if m["type"] == "payments.order.created"]
    async with runtime.db.transaction() as session:
        assert await load_order(Workspace(session), "O-AUTH-1") is None


async def test_a_token_is_used_once(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    first = create_order("O-AUTH-2")
    await broker.publish(encode(first), COMMANDS, key=b"O-AUTH-2")
    assert await published(runtime, EVENTS, "payments.order.created")
    lifted = {**create_order("O-AUTH-2"), "token": first["token"]}  # the same token on a new message
    await broker.publish(encode(lifted), COMMANDS, key=b"O-AUTH-2")
    rejected = await published(runtime, EVENTS, "payments.command.rejected")
    assert rejected[0]["data"]["reason"] == "unauthenticated" and "used before" in rejected[0]["data"]["detail"]
    async with runtime.db.transaction() as session:
        used = (await session.exec(select(UsedToken))).all()
    assert [u.command_type for u in used] == ["payments.order.create"]


async def test_an_actor_kind_that_may_not_send_the_command_is_forbidden(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    as_buyer = create_order("O-AUTH-3", actor=("buyer", "B-2001"))  # a well-signed buyer cannot create orders
    await broker.publish(encode(as_buyer), COMMANDS, key=b"O-AUTH-3")
    rejected = await published(runtime, EVENTS, "payments.command.rejected")
    assert rejected[0]["data"]["reason"] == "forbidden" and "only merchant" in rejected[0]["data"]["detail"]
    assert not [m for m in runtime.sent if m["type"] == "payments.order.created"]


def _clock(operator: str) -> dict[str, Any]:
    return envelope("control.clock.advance", {"seconds": 60}, actor=("operator", operator))


def _roster(type_: str, principal: str, role: str) -> dict[str, Any]:
    return envelope(type_, {"principal_id": principal, "role": role, "reason": "test"}, actor=("admin", "ADMIN-1"))


async def test_staff_act_only_while_the_admin_keeps_them_on_the_roster(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    await broker.publish(encode(_clock("OP-NEW")), topics.CONTROL_COMMANDS, key=b"c")
    refused = await published(runtime, EVENTS, "payments.command.rejected")
    assert refused[0]["data"]["reason"] == "forbidden" and "not on the roster as operator" in refused[0]["data"]["detail"]

    # Only the admin console's issuer changes the roster: an operator's console token cannot.
    by_operator = sign({**_roster("control.roster.grant", "OP-NEW", "operator"), "actor": {"kind": "operator", "id": "OP-1"}})
    await broker.publish(encode(by_operator), topics.CONTROL_COMMANDS, key=b"c")
    await broker.publish(encode(_roster("control.roster.grant", "OP-NEW", "operator")), topics.CONTROL_COMMANDS, key=b"c")
    changed = await published(runtime, topics.CONTROL_EVENTS, "control.roster.changed")
    assert changed[0]["data"] | {} == {"service": "payments", "principal_id": "OP-NEW", "role": "operator", "change": "granted",
                                       "changed_by": "ADMIN-1", "reason": "test"}
    await broker.publish(encode(_clock("OP-NEW")), topics.CONTROL_COMMANDS, key=b"c")
    assert await published(runtime, topics.CONTROL_EVENTS, "control.clock.advanced")

    await broker.publish(encode(_roster("control.roster.revoke", "OP-NEW", "operator")), topics.CONTROL_COMMANDS, key=b"c")
    await _all(runtime, "control.roster.changed", 2, topics.CONTROL_EVENTS)
    await broker.publish(encode(_clock("OP-NEW")), topics.CONTROL_COMMANDS, key=b"c")
    rejected = await _all(runtime, "payments.command.rejected", 3)
    assert [m["data"]["reason"] for m in rejected] == ["forbidden", "forbidden", "forbidden"]
    assert "only admin" in rejected[1]["data"]["detail"]
    async with runtime.db.transaction() as session:
        staff = {(r.principal_id, r.role) for r in (await session.exec(select(RosterEntry))).all()}
    assert ("OP-NEW", "operator") not in staff and ("ARB-1", "arbitrator") in staff  # the development roster


async def test_an_operator_replays_a_dead_letter_once_and_nobody_else_can(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    route = runtime.consumer.routes[COMMANDS]
    original, failures = route.handlers["payments.order.create"], []

    async def broken_once(uow: Any, message: Any) -> None:  # a bug, fixed after the first try
        if not failures:
            failures.append(message)
            raise RuntimeError("bug")
        await original(uow, message)

    route.handlers["payments.order.create"] = broken_once
    await broker.publish(encode(create_order("O-AUTH-4")), COMMANDS, key=b"O-AUTH-4")
    letter = (await published(runtime, topics.dead_letters("payments"), "deadletter.recorded"))[0]
    assert letter["data"]["reason"] == "handler_error"

    def replay(kind: str, actor_id: str) -> bytes:
        return encode(envelope("control.deadletter.replay", {"service": "payments", "dead_letter_id": letter["event_id"]},
                               actor=(kind, actor_id)))

    await broker.publish(replay("merchant", "M-1001"), topics.CONTROL_COMMANDS, key=b"r")  # not an operator
    await broker.publish(replay("operator", "OP-NOBODY"), topics.CONTROL_COMMANDS, key=b"r")  # not on the roster
    for _ in range(2):
        await broker.publish(replay("operator", "OP-1"), topics.CONTROL_COMMANDS, key=b"r")
    replayed = await published(runtime, topics.CONTROL_EVENTS, "control.deadletter.replayed")
    assert replayed[0]["data"]["outcome"] == "processed" and replayed[0]["data"]["replayed_by"] == "OP-1"
    assert len(await published(runtime, EVENTS, "payments.order.created")) == 1
    rejected = await _all(runtime, "payments.command.rejected", 3)
    assert [m["data"]["reason"] for m in rejected] == ["forbidden", "forbidden", "already_replayed"]


async def _all(runtime: Any, type_: str, count: int, topic: str = EVENTS) -> list[dict[str, Any]]:
    """The first ``count`` messages of ``type_``, once that many are published."""
    deadline = time.monotonic() + 10
    while True:
        found = await published(runtime, topic, type_)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, [m["data"] for m in found]
            return found


async def test_a_command_without_an_event_id_is_refused_and_changes_nothing(payments) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = payments
    document = {k: v for k, v in create_order("O-NO-ID").items() if k != "event_id"}
    await broker.publish(encode(document), COMMANDS, key=b"O-NO-ID")
    rejected = await published(runtime, EVENTS, "payments.command.rejected")
    assert [r["data"]["reason"] for r in rejected] == ["missing_event_id"]
    assert rejected[0]["data"]["command_type"] == "payments.order.create"
    async with runtime.db.transaction() as session:
        assert await load_order(Workspace(session), "O-NO-ID") is None
    await broker.publish(encode(create_order("O-NO-ID")), COMMANDS, key=b"O-NO-ID")  # with one: accepted
    assert await published(runtime, EVENTS, "payments.order.created")
