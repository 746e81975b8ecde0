"""The disputes service's real subscribers on FastStream's in-memory test broker, with SQLite:
cases from escrow's holds, negotiation, refund orders, compensation with insurer claims, the
three-day verification on the service's clock, and bad callbacks dead-lettered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from services.disputes import domain, store
from services.disputes.app import build
from shared import topics
from shared.consumer import parked_messages
from shared.contracts import disputes, escrow, insurer
from shared.envelope import Actor, ActorKind, Envelope, Payload
from shared.money import Money
from tests.handlers.harness import published, serving
from tests.factories import encode, sign

SECRET = "dev-only-insurer-callback-secret"
EVENTS = topics.events("disputes")


@pytest.fixture
async def service(data_dir: Path):  # type: ignore[no-untyped-def]
    async with serving(build()) as running:
        yield running


def message(payload: Payload, kind: ActorKind, actor_id: str) -> bytes:
    sent = Envelope(type=payload.TYPE, producer="test", data=payload, actor=Actor(kind=kind, id=actor_id),  # type: ignore[attr-defined]
                    correlation_id="flow-test")
    return encode(sign(sent.model_dump(mode="json", exclude={"token"})))


async def send(broker: Any, topic: str, payload: Payload, kind: ActorKind = ActorKind.SYSTEM, actor_id: str = "escrow") -> None:
    await broker.publish(message(payload, kind, actor_id), topic, key=b"O-D-1")


async def hold(broker: Any, order_id: str = "O-D-1", amount: int = 12900) -> None:
    await send(broker, topics.events("escrow"), escrow.HoldCreated(
        hold_id=f"H-{order_id}", order_id=order_id, merchant_id="M-1", buyer_id="B-1", amount=Money(amount=amount),
        fee=77, auto_confirm_days=7))


async def open_case(broker: Any, requested: int = 12900, case_id: str = "C-D-1") -> None:
    await send(broker, topics.commands("disputes"), disputes.OpenCase(
        case_id=case_id, order_id="O-D-1", reason=disputes.CaseReason.NOT_AS_DESCRIBED, requested=Money(amount=requested),
        description="screen scratched"), ActorKind.BUYER, "B-1")


async def accept(broker: Any) -> None:
    await send(broker, topics.commands("disputes"), disputes.RespondToCase(
        case_id="C-D-1", response=disputes.MerchantResponse.ACCEPT), ActorKind.MERCHANT, "M-1")


async def executed(broker: Any, from_hold: int, from_merchant: int, shortfall: int) -> None:
    await send(broker, topics.events("escrow"), escrow.CaseRefundExecuted(
        refund_id="CR-C-D-1-1", case_id="C-D-1", order_id="O-D-1", buyer_id="B-1", merchant_id="M-1",
        amount=Money(amount=from_hold + from_merchant + shortfall), from_hold=from_hold, from_merchant=from_merchant,
        shortfall=shortfall))


async def test_a_case_on_a_held_order_is_negotiated_and_its_refund_ordered(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await hold(broker)
    await open_case(broker, 3800)
    opened = await published(runtime, EVENTS, "disputes.case.opened")
    assert opened[0]["data"]["requested"]["amount"] == 3800 and opened[0]["data"]["paid"]["amount"] == 12900
    await accept(broker)
    ordered = await published(runtime, EVENTS, "disputes.refund.ordered")
    assert ordered[0]["data"]["refund_id"] == "CR-C-D-1-1" and ordered[0]["data"]["amount"]["amount"] == 3800
    assert await published(runtime, EVENTS, "disputes.verification.started")
    async with runtime.db.transaction() as session:
        timeline = [t for t, _, _ in await store.history(session, "C-D-1")]
    assert timeline == ["disputes.case.opened", "disputes.case.merchant_responded", "disputes.negotiation.agreed",
                        "disputes.refund.ordered", "disputes.verification.started"]


async def test_a_case_opened_before_its_hold_is_known_waits_for_it(service) -> None:  # type: ignore[no-untyped-def]
    """The buyer opens a case the instant the payment succeeded, before escrow's hold.created reached
    disputes: the case waits (parked, nothing published) and opens when the hold is read."""
    runtime, broker = service
    await open_case(broker, 3800)
    assert not await published(runtime, EVENTS, "disputes.command.rejected", timeout=0.3)
    assert not [m for m in runtime.sent if m["type"] == "disputes.case.opened"]
    assert runtime.consumer.stats.parked == 1 and await parked_messages(runtime.db) == 1
    await hold(broker)
    opened = await published(runtime, EVENTS, "disputes.case.opened")
    assert opened[0]["data"]["case_id"] == "C-D-1" and opened[0]["data"]["requested"]["amount"] == 3800
    assert opened[0]["correlation_id"] == "flow-test"
    assert runtime.consumer.stats.woken == 1 and await parked_messages(runtime.db) == 0
    runtime.clock.advance(120)  # the parking time passes: nothing more happens
    await runtime.scheduler.fire_due()
    assert not await published(runtime, EVENTS, "disputes.command.rejected", timeout=0.3)
    assert len([m for m in runtime.sent if m["type"] == "disputes.case.opened"]) == 1


async def test_the_wrong_buyer_and_an_unknown_order_are_rejected(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await open_case(broker)
    assert not await published(runtime, EVENTS, "disputes.command.rejected", timeout=0.3)  # it waits for the hold
    runtime.clock.advance(59)
    await runtime.scheduler.fire_due()
    assert not await published(runtime, EVENTS, "disputes.command.rejected", timeout=0.3)
    runtime.clock.advance(2)  # DANBAO_PARK_SECONDS (60) passed without the hold: refused
    await runtime.scheduler.fire_due()
    rejected = await published(runtime, EVENTS, "disputes.command.rejected")
    assert rejected[0]["data"]["reason"] == "order_not_found" and rejected[0]["data"]["aggregate_id"] == "O-D-1"
    assert rejected[0]["causation_id"] == rejected[0]["data"]["command_event_id"]
    assert await parked_messages(runtime.db) == 0
    await hold(broker)  # too late: the case was refused, and stays so
    await published(runtime, EVENTS, "disputes.command.rejected")
    assert not [m for m in runtime.sent if m["type"] == "disputes.case.opened"]
    await send(broker, topics.commands("disputes"), disputes.OpenCase(
        case_id="C-D-9", order_id="O-D-1", reason=disputes.CaseReason.OTHER, requested=Money(amount=100),
        description="x"), ActorKind.BUYER, "B-OTHER")
    runtime.sent.clear()
    rejected = await published(runtime, EVENTS, "disputes.command.rejected")
    assert rejected[0]["data"]["reason"] == "forbidden"
    assert not [m for m in runtime.sent if m["type"] == "disputes.case.opened"]


async def test_a_shortfall_is_compensated_once_and_claimed_from_the_insurer(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await hold(broker)
    await open_case(broker)
    await accept(broker)
    await published(runtime, EVENTS, "disputes.refund.ordered")
    await executed(broker, 0, 2900, 10000)
    await executed(broker, 0, 2900, 10000)  # escrow reports it twice
    granted = await published(runtime, EVENTS, "disputes.compensation.granted")
    claims = await published(runtime, topics.INSURER_REQUESTS, "insurer.claim.filed")
    assert len(granted) == 1 and granted[0]["data"]["amount"]["amount"] == 10000
    assert len(claims) == 1 and claims[0]["data"]["claim_id"] == "CL-C-D-1-1" and claims[0]["data"]["amount"]["amount"] == 10000

    decided = insurer.ClaimDecided(claim_id="CL-C-D-1-1", case_id="C-D-1", decision=insurer.ClaimDecision.PARTIAL,
                                   approved=Money(amount=5000), reason="partly_covered", signature="")
    await send(broker, topics.INSURER_CALLBACKS, decided.signed(SECRET), actor_id="insurer")
    await send(broker, topics.INSURER_CALLBACKS, insurer.ClaimPaid(
        claim_id="CL-C-D-1-1", case_id="C-D-1", amount=Money(amount=5000), insurer_txn_id="INS-1", signature="").signed(SECRET),
        actor_id="insurer")
    recorded = await published(runtime, EVENTS, "disputes.claim.decided")
    paid = await published(runtime, EVENTS, "disputes.claim.paid")
    assert recorded[0]["data"]["approved"]["amount"] == 5000 and recorded[0]["data"]["claimed"]["amount"] == 10000
    assert paid[0]["data"]["amount"]["amount"] == 5000
    async with runtime.db.transaction() as session:
        assert await store.compensation_used(session, "B-1", 2026) + await store.compensation_used(session, "B-1", 2027) == 10000


async def test_a_forged_insurer_callback_is_dead_lettered(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    forged = insurer.ClaimDecided(claim_id="CL-X", case_id="C-X", decision=insurer.ClaimDecision.APPROVED,
                                  approved=Money(amount=999999), signature="").signed("not-the-secret")
    await send(broker, topics.INSURER_CALLBACKS, forged, actor_id="insurer")
    dead = await published(runtime, topics.dead_letters("disputes"), "deadletter.recorded")
    assert dead[0]["data"]["reason"] == "bad_signature"


async def test_verification_days_fire_on_the_service_clock_and_close_the_case(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await hold(broker)
    await open_case(broker, 3800)
    await accept(broker)
    await published(runtime, EVENTS, "disputes.refund.ordered")
    await executed(broker, 3800, 0, 0)
    for day in (1, 2, 3):
        runtime.clock.advance(86_400)
        await runtime.scheduler.fire_due()
        if day == 2:
            await send(broker, topics.commands("disputes"), disputes.SubmitFeedback(case_id="C-D-1", satisfied=True),
                       ActorKind.BUYER, "B-1")
            await published(runtime, EVENTS, "disputes.feedback.received")
    checked = await published(runtime, EVENTS, "disputes.verification.refund_checked")
    assert checked[0]["data"]["verified"] is True and checked[0]["data"]["booked"]["amount"] == 3800
    assert await published(runtime, EVENTS, "disputes.verification.feedback_requested")
    closed = await published(runtime, EVENTS, "disputes.case.closed")
    assert closed[0]["data"]["outcome"] == "resolved" and closed[0]["data"]["satisfied"] is True


async def test_merchant_silence_accepts_after_48_hours(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await hold(broker)
    await open_case(broker, 5000)
    await published(runtime, EVENTS, "disputes.case.opened")
    runtime.clock.advance(47 * 3600)
    await runtime.scheduler.fire_due()
    assert not [m for m in runtime.sent if m["type"] == "disputes.negotiation.agreed"]
    runtime.clock.advance(3600)
    await runtime.scheduler.fire_due()
    agreed = await published(runtime, EVENTS, "disputes.negotiation.agreed")
    assert agreed[0]["data"]["how"] == "merchant_silent" and agreed[0]["data"]["amount"]["amount"] == 5000


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def until(runtime: Any, stamp: str) -> None:
    """Move the service's clock to ``stamp`` (an announced deadline) and fire what is due."""
    runtime.clock.advance(max(1, int((at(stamp) - runtime.clock.now()).total_seconds()) + 1))
    await runtime.scheduler.fire_due()


async def command(broker: Any, payload: Payload, party: str) -> None:
    kind, actor_id = {"buyer": (ActorKind.BUYER, "B-1"), "merchant": (ActorKind.MERCHANT, "M-1"),
                      "arbitrator": (ActorKind.ARBITRATOR, "ARB-1")}[party]
    await send(broker, topics.commands("disputes"), payload, kind, actor_id)


async def test_a_counter_offer_the_buyer_never_answers_is_accepted_at_its_deadline(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await hold(broker)
    await open_case(broker, 12900)
    await command(broker, disputes.RespondToCase(case_id="C-D-1", response=disputes.MerchantResponse.COUNTER_OFFER,
                                                 amount=Money(amount=5000)), "merchant")
    (responded,) = await published(runtime, EVENTS, "disputes.case.merchant_responded")
    answer_by = responded["data"]["answer_by"]
    assert at(answer_by) - at(responded["occurred_at"]) == timedelta(hours=72)
    runtime.clock.advance(71 * 3600)
    await runtime.scheduler.fire_due()
    assert not [m for m in runtime.sent if m["type"] == "disputes.negotiation.agreed"]
    await until(runtime, answer_by)
    (agreed,) = await published(runtime, EVENTS, "disputes.negotiation.agreed")
    assert (agreed["data"]["how"], agreed["data"]["amount"]["amount"]) == ("buyer_silent", 5000)
    (ordered,) = await published(runtime, EVENTS, "disputes.refund.ordered")
    assert ordered["data"]["amount"]["amount"] == 5000 and ordered["actor"] == {"kind": "system", "id": "disputes"}


async def test_an_arbitration_nobody_rules_goes_to_the_supervisors_then_is_ruled_by_default(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await hold(broker)
    await send(broker, topics.events("escrow"), escrow.ShipmentRecorded(
        order_id="O-D-1", hold_id="H-O-D-1", carrier="SF", tracking_no="SF1", auto_confirm_at=datetime(2026, 12, 30, tzinfo=timezone.utc)))
    await send(broker, topics.commands("disputes"), disputes.OpenCase(
        case_id="C-D-1", order_id="O-D-1", reason=disputes.CaseReason.NOT_RECEIVED, requested=Money(amount=12900),
        description="never arrived"), ActorKind.BUYER, "B-1")
    await command(broker, disputes.RespondToCase(case_id="C-D-1", response=disputes.MerchantResponse.REJECT), "merchant")
    await command(broker, disputes.EscalateCase(case_id="C-D-1"), "buyer")
    (escalated,) = await published(runtime, EVENTS, "disputes.case.escalated")
    rule_by = escalated["data"]["rule_by"]
    assert at(rule_by).astimezone(domain.CHINA).hour == 18  # the end of a business day, China time
    assert at(rule_by) - at(escalated["occurred_at"]) >= timedelta(days=5)  # five business days at least a week
    await until(runtime, rule_by)
    (overdue,) = await published(runtime, EVENTS, "disputes.case.arbitration_overdue")
    assert overdue["data"]["rule_by"] == rule_by and overdue["data"]["default_ruling"]["rule"] == "R1-not-delivered"
    assert not [m for m in runtime.sent if m["type"] == "disputes.case.ruled"]
    async with runtime.db.transaction() as session:
        assert await store.overdue_cases(session) == 1
    await until(runtime, overdue["data"]["default_ruling_at"])
    (ruled,) = await published(runtime, EVENTS, "disputes.case.ruled")
    assert ruled["data"]["by_default"] is True and ruled["data"]["arbitrator_id"] == "system"
    assert (ruled["data"]["decision"], ruled["data"]["amount"]["amount"], ruled["data"]["followed_rule"]) == (
        "full_refund", 12900, "R1-not-delivered")
    assert ruled["actor"] == {"kind": "system", "id": "disputes"}
    (ordered,) = await published(runtime, EVENTS, "disputes.refund.ordered")
    assert ordered["data"]["basis"] == "ruled" and ordered["data"]["amount"]["amount"] == 12900
    async with runtime.db.transaction() as session:
        assert await store.overdue_cases(session) == 0
        history = [t for t, _, _ in await store.history(session, "C-D-1")]
    assert history[-4:] == ["disputes.case.arbitration_overdue", "disputes.case.ruled", "disputes.refund.ordered",
                            "disputes.verification.started"]


async def _ruled_on_return(runtime: Any, broker: Any) -> dict[str, Any]:
    await hold(broker)
    await send(broker, topics.commands("disputes"), disputes.OpenCase(
        case_id="C-D-1", order_id="O-D-1", reason=disputes.CaseReason.NOT_AS_DESCRIBED, requested=Money(amount=12900),
        description="a different model", evidence=[disputes.Evidence(reference="e/1.jpg", sha256="a" * 64, description="photo")]),
        ActorKind.BUYER, "B-1")
    await command(broker, disputes.RespondToCase(case_id="C-D-1", response=disputes.MerchantResponse.REJECT), "merchant")
    await command(broker, disputes.EscalateCase(case_id="C-D-1"), "buyer")
    await command(broker, disputes.RuleOnCase(case_id="C-D-1", decision=disputes.RulingDecision.FULL_REFUND,
                                              reasons="货不对板，退货后退款", return_required=True), "arbitrator")
    (requested,) = await published(runtime, EVENTS, "disputes.return.requested")
    assert not [m for m in runtime.sent if m["type"] == "disputes.refund.ordered"]  # not before the goods are back
    return requested


async def test_a_refund_on_return_is_ordered_when_the_merchant_confirms_the_goods_came_back(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    requested = await _ruled_on_return(runtime, broker)
    assert at(requested["data"]["return_by"]) - at(requested["occurred_at"]) == timedelta(days=7)
    await command(broker, disputes.ConfirmReturnReceipt(case_id="C-D-1"), "buyer")  # not the buyer's to confirm
    await command(broker, disputes.RecordReturnShipment(case_id="C-D-1", carrier="SF", tracking_no="SF2026"), "buyer")
    (shipped,) = await published(runtime, EVENTS, "disputes.return.shipped")
    assert shipped["data"]["tracking_no"] == "SF2026"
    await command(broker, disputes.ConfirmReturnReceipt(case_id="C-D-1", note="已收到退货"), "merchant")
    (received,) = await published(runtime, EVENTS, "disputes.return.received")
    assert received["data"]["how"] == "merchant_confirmed"
    (ordered,) = await published(runtime, EVENTS, "disputes.refund.ordered")
    assert ordered["data"]["amount"]["amount"] == 12900
    rejected = await published(runtime, EVENTS, "disputes.command.rejected")
    assert [r["data"]["reason"] for r in rejected] == ["forbidden"]
    await until(runtime, shipped["data"]["confirm_by"])  # the receipt deadline was cancelled: nothing more
    assert len(await published(runtime, EVENTS, "disputes.return.received")) == 1


async def test_a_return_the_merchant_does_not_confirm_counts_as_received_and_one_never_sent_closes_the_case(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    await _ruled_on_return(runtime, broker)
    await command(broker, disputes.RecordReturnShipment(case_id="C-D-1", carrier="SF", tracking_no="SF2027"), "buyer")
    (shipped,) = await published(runtime, EVENTS, "disputes.return.shipped")
    assert at(shipped["data"]["confirm_by"]) - at(shipped["occurred_at"]) == timedelta(days=10)
    await until(runtime, shipped["data"]["confirm_by"])
    (received,) = await published(runtime, EVENTS, "disputes.return.received")
    assert received["data"]["how"] == "deadline_passed"
    assert (await published(runtime, EVENTS, "disputes.refund.ordered"))[0]["data"]["amount"]["amount"] == 12900


async def test_a_return_never_sent_closes_the_case_without_a_refund(service) -> None:  # type: ignore[no-untyped-def]
    runtime, broker = service
    requested = await _ruled_on_return(runtime, broker)
    await until(runtime, requested["data"]["return_by"])
    (closed,) = await published(runtime, EVENTS, "disputes.case.closed")
    assert closed["data"]["outcome"] == "return_not_shipped" and closed["data"]["refunded"]["amount"] == 0
    assert not [m for m in runtime.sent if m["type"] == "disputes.refund.ordered"]
