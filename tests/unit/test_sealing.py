"""Personal fields sealed at the edge: what opens, what does not, and what a rejection says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ops.cli import app
from services.onboarding.config import OnboardingSettings
from shared.contracts import onboarding
from shared.sealing import (
    COMPACT_JWE,
    EXAMPLE,
    SealKeys,
    UnsealableValue,
    development_private_jwks,
    development_public_jwks,
    generate_private_jwk,
    opened,
    seal,
    seal_command,
)
from shared.unit_of_work import Rejected
from tests.factories import apply_for_merchant

ROOT = Path(__file__).resolve().parents[2]
ONBOARDING = SealKeys(development_private_jwks("onboarding"))
PUBLIC = development_public_jwks("onboarding")


def test_a_sealed_value_opens_only_for_its_field_and_party() -> None:
    value = seal("11010519491231002X", "legal_rep_id_number", "M-1", PUBLIC)
    assert re.fullmatch(COMPACT_JWE, value) and "11010519491231002X" not in value
    assert ONBOARDING.open(value, "legal_rep_id_number", "M-1") == "11010519491231002X"
    for field, party in (("phone", "M-1"), ("legal_rep_id_number", "M-2")):
        with pytest.raises(UnsealableValue, match="another field or party"):
            ONBOARDING.open(value, field, party)


@pytest.mark.parametrize("value", [
    "13812345678", "", "a.b.c.d.e", "x" * 5000,
    seal("13812345678", "phone", "M-1", development_public_jwks("notifications")),  # another service's key
    seal("13812345678", "phone", "M-1", {"keys": [generate_private_jwk("dev-only-onboarding-seal-1")]}),  # same kid, other key
])
def test_what_does_not_open_is_unsealable_and_the_reason_never_holds_the_value(value: str) -> None:
    with pytest.raises(UnsealableValue) as caught:
        ONBOARDING.open(value, "phone", "M-1")
    assert "13812345678" not in str(caught.value) and (not value or value not in str(caught.value))


def test_a_tampered_value_does_not_open() -> None:
    value = seal("13812345678", "phone", "M-1", PUBLIC)
    header, key, iv, ciphertext, tag = value.split(".")
    for changed in (f"{header}.{key}.{iv}.{'B' if ciphertext[0] == 'A' else 'A'}{ciphertext[1:]}.{tag}",
                    f"{header}.{key}.{iv}.{ciphertext}.{'B' if tag[0] == 'A' else 'A'}{tag[1:]}"):
        with pytest.raises(UnsealableValue, match="does not open"):
            ONBOARDING.open(changed, "phone", "M-1")


def test_every_listed_key_opens_and_the_first_is_published_first() -> None:
    old, new = development_private_jwks("onboarding")["keys"][0], generate_private_jwk("2026-12")
    rotated = SealKeys({"keys": [new, old]})
    assert rotated.current == "2026-12" and [k["kid"] for k in rotated.public_jwks()["keys"]] == ["2026-12", old["kid"]]
    assert all("d" not in k for k in rotated.public_jwks()["keys"])
    in_flight = seal("a@example.com", "email", "M-1", PUBLIC)  # sealed before the clients fetched the new set
    assert rotated.open(in_flight, "email", "M-1") == "a@example.com"
    assert rotated.open(seal("a@example.com", "email", "M-1", rotated.public_jwks()), "email", "M-1") == "a@example.com"
    with pytest.raises(UnsealableValue, match="does not hold"):
        SealKeys({"keys": [new]}).open(in_flight, "email", "M-1")


def test_the_contract_example_is_a_real_sealed_value() -> None:
    assert ONBOARDING.open(EXAMPLE, "email", "M-1001") == "finance@example.com"


def test_seal_command_seals_each_personal_field_once_and_the_handler_opens_them() -> None:
    plain = apply_for_merchant("M-S-1", "91350100M000100Y43", seal=False)
    sealed = seal_command(plain, PUBLIC)
    assert seal_command(sealed, PUBLIC) == sealed  # already sealed: left alone
    assert plain["data"]["phone"] == "13812345678"  # the input is not changed
    command = opened(ONBOARDING, onboarding.COMMANDS.parse(sealed))
    assert (command.phone, command.legal_rep_name, command.credit_code) == ("13812345678", "张三", "91350100M000100Y43")
    assert onboarding.COMMANDS.parse(sealed).data.phone != "13812345678"
    with pytest.raises(Rejected) as caught:
        opened(ONBOARDING, onboarding.COMMANDS.parse(plain))
    assert caught.value.reason == "unsealable_field" and caught.value.detail.startswith("legal_rep_name is not sealed")


def test_production_refuses_the_development_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANBAO_MODE", "production")
    for name in ("PII_KEYS", "CONTACT_SEAL_KEYS", "BANK_ACCOUNT_SEAL_KEYS"):
        monkeypatch.setenv(f"DANBAO_ONBOARDING_{name}", "k1:" + "A" * 43 + "=")
    monkeypatch.setenv("DANBAO_ONBOARDING_REGISTRY_CALLBACK_SECRET", "registry-live")
    monkeypatch.setenv("DANBAO_ONBOARDING_SEAL_PRIVATE_KEYS", json.dumps(development_private_jwks("onboarding")))
    with pytest.raises(ValidationError, match="SEAL_PRIVATE_KEYS still holds the development key"):
        OnboardingSettings()
    monkeypatch.setenv("DANBAO_ONBOARDING_SEAL_PRIVATE_KEYS", json.dumps({"keys": [generate_private_jwk("2026-11")]}))
    assert OnboardingSettings().seal_keys().current == "2026-11"
    monkeypatch.setenv("DANBAO_MODE", "dev")
    monkeypatch.setenv("DANBAO_ONBOARDING_SEAL_PRIVATE_KEYS", json.dumps({"keys": [{"kty": "oct", "k": "AA", "kid": "x"}]}))
    with pytest.raises(ValidationError, match="X25519"):
        OnboardingSettings()


def test_the_readme_example_seals_what_the_service_opens() -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- seal-example:start -->\n```python\n(.*?)```", readme, re.S)
    assert snippet is not None
    namespace: dict[str, object] = {}
    exec(snippet.group(1), namespace)  # noqa: S102 - the README's own code
    sealed = namespace["seal"]("13812345678", "phone", "M-1", PUBLIC)  # type: ignore[operator]
    assert ONBOARDING.open(sealed, "phone", "M-1") == "13812345678"


def test_danbao_seal_prints_the_command_sealed_and_the_public_keys(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["seal", "command", "onboarding", str(ROOT / "docs/examples/apply-for-merchant.json")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert ONBOARDING.open(data["email"], "email", data["merchant_id"]) == json.loads(
        (ROOT / "docs/examples/apply-for-merchant.json").read_text())["data"]["email"]
    keys = runner.invoke(app, ["seal", "keys", "onboarding"])
    assert json.loads(keys.stdout) == PUBLIC
    other = tmp_path / "keys.json"
    other.write_text(json.dumps(SealKeys({"keys": [generate_private_jwk("k-file")]}).public_jwks()))
    result = runner.invoke(app, ["seal", "command", "onboarding", "--keys", str(other), str(ROOT / "docs/examples/apply-for-merchant.json")])
    assert json.loads(result.stdout)["data"]["phone"].startswith("eyJ")
    assert runner.invoke(app, ["seal", "command", "notifications", str(ROOT / "docs/examples/apply-for-merchant.json")]).exit_code == 2
    assert SealKeys(runner.invoke(app, ["seal", "keygen", "--kid", "2027-01"]).stdout).current == "2027-01"
