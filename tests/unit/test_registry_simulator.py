"""The credit registry simulator's answers: each fixture company's status and name, signed with the shared secret."""

from __future__ import annotations

import json

import pytest

from services.onboarding.config import OnboardingSettings
from services.simulators import registry as simulator
from shared.contracts import registry
from shared.envelope import Actor, ActorKind, Envelope

SECRET = "registry-test-secret"


def _lookup(credit_code: str, merchant_id: str = "M-1001") -> registry.LookupCompany:
    return registry.LookupCompany(merchant_id=merchant_id, credit_code=credit_code)


@pytest.mark.parametrize(("credit_code", "status", "name"), [
    (simulator.ACTIVE, registry.RegistryStatus.ACTIVE, "杭州小盾牌贸易有限公司"),
    (simulator.ACTIVE_2, registry.RegistryStatus.ACTIVE, "杭州绿盾科技有限公司"),
    (simulator.REVOKED, registry.RegistryStatus.REVOKED, "杭州已吊销贸易有限公司"),
    (simulator.DEREGISTERED, registry.RegistryStatus.DEREGISTERED, "杭州已注销贸易有限公司"),
    (simulator.OTHER_NAME, registry.RegistryStatus.ACTIVE, "杭州另一家贸易有限公司"),
    ("91350100M000100Y43", registry.RegistryStatus.NOT_FOUND, None),
])
def test_each_fixture_is_a_signed_answer_about_the_applicant(credit_code: str, status: registry.RegistryStatus,
                                                             name: str | None) -> None:
    found = simulator.answer(_lookup(credit_code), SECRET)
    assert found is not None
    assert (found.merchant_id, found.credit_code, found.status, found.registered_name) == ("M-1001", credit_code, status, name)
    assert found.signature_valid(SECRET) and not found.signature_valid("another-secret")


def test_the_signature_covers_every_field_that_matters() -> None:
    found = simulator.answer(_lookup(simulator.REVOKED), SECRET)
    assert found is not None
    for change in ({"merchant_id": "M-1002"}, {"credit_code": simulator.ACTIVE}, {"status": registry.RegistryStatus.ACTIVE},
                   {"registered_name": "杭州小盾牌贸易有限公司"}, {"registered_name": None}):
        assert not found.model_copy(update=change).signature_valid(SECRET), change


def test_the_silent_fixture_gets_no_answer() -> None:
    assert simulator.answer(_lookup(simulator.SILENT), SECRET) is None


def test_an_answer_reads_as_the_results_contract() -> None:
    found = simulator.answer(_lookup(simulator.ACTIVE), SECRET)
    assert found is not None
    sent = Envelope(type=found.TYPE, producer="registry-simulator", data=found,
                    actor=Actor(kind=ActorKind.SYSTEM, id="registry-simulator"))  # as simulator_app sends it
    assert registry.RESULTS.parse(json.loads(sent.to_json())).data == found
    _, port, _ = simulator.build(simulator.RegistrySimulatorSettings(callback_secret=SECRET))
    assert port == simulator.DEFAULT_PORT == 8112


def test_by_default_it_signs_as_onboarding_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DANBAO_SIM_REGISTRY_CALLBACK_SECRET", "DANBAO_ONBOARDING_REGISTRY_CALLBACK_SECRET", "DANBAO_MODE"):
        monkeypatch.delenv(name, raising=False)
    settings = simulator.RegistrySimulatorSettings()
    assert settings.callback_secret == OnboardingSettings().registry_callback_secret
    assert settings.secrets() == {"DANBAO_SIM_REGISTRY_CALLBACK_SECRET": settings.callback_secret}
    found = simulator.answer(_lookup(simulator.ACTIVE), settings.callback_secret)
    assert found is not None and found.signature_valid(OnboardingSettings().registry_callback_secret)


async def test_the_simulator_answers_a_lookup_signed_and_keyed_by_the_merchant() -> None:
    from faststream.kafka import TestKafkaBroker
    from faststream.kafka.annotations import KafkaMessage

    from shared.settings import PlatformSettings

    app = simulator.build(simulator.RegistrySimulatorSettings(callback_secret=SECRET), PlatformSettings())[0]
    got: list[tuple[bytes, dict]] = []

    @app.broker.subscriber(registry.RESULTS.topic)
    async def listen(message: KafkaMessage) -> None:
        got.append((message.raw_message.key, json.loads(message.body)))

    async with TestKafkaBroker(app.broker) as broker:
        for code in (simulator.ACTIVE, simulator.SILENT):
            sent = Envelope(type=registry.LookupCompany.TYPE, producer="onboarding", data=_lookup(code),
                            actor=Actor(kind=ActorKind.SYSTEM, id="onboarding"))
            await broker.publish(sent.to_json(), registry.REQUESTS.topic, key=b"M-1001")
    assert [key for key, _ in got] == [b"M-1001"]  # the silent fixture gets nothing
    found = registry.RESULTS.parse(got[0][1]).data
    assert found.credit_code == simulator.ACTIVE and found.signature_valid(SECRET)
