"""The insurer simulator's answers: a signed decision per claim, and a signed payment of whatever it approves."""

from __future__ import annotations

import json

import pytest

from services.disputes.config import DisputesSettings
from services.simulators import insurer as simulator
from shared.contracts import insurer
from shared.envelope import Actor, ActorKind, Envelope
from shared.money import Money

SECRET = "insurer-test-secret"


def _claim(merchant_id: str = "M-1001", amount: int = 12900) -> insurer.ClaimFiled:
    return insurer.ClaimFiled(claim_id="CL-C-1-1", case_id="C-1", order_id="O-1", merchant_id=merchant_id,
                              amount=Money(amount=amount), reason="not_received")


@pytest.mark.parametrize(("merchant_id", "amount", "decision", "approved", "reason"), [
    ("M-1001", 12900, insurer.ClaimDecision.APPROVED, 12900, None),
    ("M-DENY-1", 12900, insurer.ClaimDecision.DENIED, 0, "excluded_merchant"),
    ("M-HALF-1", 12900, insurer.ClaimDecision.PARTIAL, 6450, "partly_covered"),
    ("M-HALF-2", 12901, insurer.ClaimDecision.PARTIAL, 6450, "partly_covered"),  # rounded down to the fen
    ("M-HALF-3", 1, insurer.ClaimDecision.DENIED, 0, "partly_covered"),  # half a fen: nothing to pay
])
def test_each_outcome_is_a_signed_decision_then_a_signed_payment_of_what_was_approved(
        merchant_id: str, amount: int, decision: insurer.ClaimDecision, approved: int, reason: str | None) -> None:
    claim = _claim(merchant_id, amount)
    replies = simulator.answer(claim, SECRET)
    decided = replies[0]
    assert isinstance(decided, insurer.ClaimDecided)
    assert (decided.claim_id, decided.case_id, decided.decision, decided.approved, decided.reason) == (
        claim.claim_id, claim.case_id, decision, Money(amount=approved), reason)
    assert decided.signature_valid(SECRET) and not decided.signature_valid("another-secret")
    if approved:
        paid = replies[1]
        assert isinstance(paid, insurer.ClaimPaid) and len(replies) == 2
        assert (paid.claim_id, paid.case_id, paid.amount) == (claim.claim_id, claim.case_id, Money(amount=approved))
        assert paid.insurer_txn_id.startswith("INS-")
        assert paid.signature_valid(SECRET) and not paid.signature_valid("another-secret")
    else:
        assert len(replies) == 1  # denied: nothing is paid


def test_the_replies_are_keyed_by_the_claims_order_and_read_as_the_callback_contract() -> None:
    replies = simulator.keyed(_claim(), SECRET)
    assert [key for _, key in replies] == ["O-1", "O-1"]
    for reply, _ in replies:
        sent = Envelope(type=type(reply).TYPE, producer="insurer-simulator", data=reply,
                        actor=Actor(kind=ActorKind.SYSTEM, id="insurer-simulator"))  # as simulator_app sends it
        assert insurer.CALLBACKS.parse(json.loads(sent.to_json())).data == reply
    _, port, _ = simulator.build(simulator.InsurerSimulatorSettings(callback_secret=SECRET))
    assert port == simulator.DEFAULT_PORT == 8114


def test_by_default_it_signs_as_disputes_expects_and_decides_after_a_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DANBAO_SIM_INSURER_CALLBACK_SECRET", "DANBAO_DISPUTES_INSURER_CALLBACK_SECRET",
                 "DANBAO_SIM_INSURER_DELAY_SECONDS", "DANBAO_MODE"):
        monkeypatch.delenv(name, raising=False)
    settings = simulator.InsurerSimulatorSettings()
    assert settings.callback_secret == DisputesSettings().insurer_callback_secret
    assert settings.delay_seconds == 2.0
    assert settings.secrets() == {"DANBAO_SIM_INSURER_CALLBACK_SECRET": settings.callback_secret}
    for reply in simulator.answer(_claim(), settings.callback_secret):
        assert reply.signature_valid(DisputesSettings().insurer_callback_secret)


async def test_the_simulator_sends_every_reply_of_an_answer_in_order_and_a_single_reply_still_works() -> None:
    from faststream.kafka import TestKafkaBroker
    from faststream.kafka.annotations import KafkaMessage

    from services.simulators import bank as bank_simulator
    from shared.contracts import bank
    from shared.settings import PlatformSettings

    claim = _claim()
    transfer = bank.TransferRequested(payout_id="PO-M-1001-1", merchant_id="M-1001", account_ref="ACCT-M-1001", amount=Money(amount=500))
    for app, request, requests, callbacks, expected in (
        (simulator.build(simulator.InsurerSimulatorSettings(callback_secret=SECRET, delay_seconds=0), PlatformSettings())[0],
         claim, insurer.REQUESTS, insurer.CALLBACKS, [(b"O-1", "insurer.claim.decided"), (b"O-1", "insurer.claim.paid")]),
        (bank_simulator.build(bank_simulator.BankSimulatorSettings(), PlatformSettings())[0],
         transfer, bank.REQUESTS, bank.CALLBACKS, [(b"M-1001", "bank.transfer.completed")]),
    ):
        got: list[tuple[bytes, str]] = []

        @app.broker.subscriber(callbacks.topic)
        async def listen(message: KafkaMessage) -> None:
            got.append((message.raw_message.key, json.loads(message.body)["type"]))  # noqa: B023 - used at once

        async with TestKafkaBroker(app.broker) as broker:
            sent = Envelope(type=type(request).TYPE, producer="platform", data=request,
                            actor=Actor(kind=ActorKind.SYSTEM, id="platform"))
            await broker.publish(sent.to_json(), requests.topic, key=b"k")
        assert got == expected
