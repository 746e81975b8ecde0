from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.contracts import CONTRACTS, UnknownType, UnsupportedVersion, payments
from shared.contracts.common import rejection_payload
from shared.envelope import Envelope
from tests.factories import create_order


def test_a_valid_command_parses_to_its_typed_payload() -> None:
    message = payments.COMMANDS.parse(create_order("O-1"))
    assert isinstance(message.data, payments.CreateOrder)
    assert message.data.amount.amount == 12900
    assert message.actor.kind == "merchant"


def test_unknown_fields_are_ignored_so_schemas_can_grow() -> None:
    document = create_order("O-1")
    document["new_envelope_field"] = 1
    document["data"]["gift_wrap"] = True
    assert payments.COMMANDS.parse(document).data.order_id == "O-1"


def test_unknown_type_and_newer_version_are_refused() -> None:
    document = create_order("O-1")
    with pytest.raises(UnsupportedVersion):
        payments.COMMANDS.parse({**document, "version": 2})
    with pytest.raises(UnknownType):
        payments.COMMANDS.parse({**document, "type": "payments.order.teleport"})
    with pytest.raises(UnknownType):
        payments.COMMANDS.parse(["not", "an", "object"])


@pytest.mark.parametrize(("field", "value"), [
    ("order_id", "has spaces"), ("buyer_id", ""), ("auto_confirm_days", 0), ("items", []),
])
def test_invalid_fields_are_refused_naming_the_field(field: str, value: object) -> None:
    document = create_order("O-1")
    document["data"][field] = value
    with pytest.raises(ValidationError) as caught:
        payments.COMMANDS.parse(document)
    assert field in str(caught.value)


def test_the_total_must_match_the_lines_and_money_is_never_a_float() -> None:
    document = create_order("O-1", unit_price=100, quantity=3)
    document["data"]["amount"]["amount"] = 301
    with pytest.raises(ValidationError, match="sum of the items"):
        payments.COMMANDS.parse(document)
    document["data"]["amount"]["amount"] = 300.5
    with pytest.raises(ValidationError):
        payments.COMMANDS.parse(document)


def test_every_field_of_every_contract_is_described_with_an_example() -> None:
    for contract in CONTRACTS.values():
        for payload in contract.payloads.values():
            for name, field in payload.model_fields.items():
                assert field.description, f"{payload.__name__}.{name} has no description"


def test_envelope_round_trips_as_plain_json() -> None:
    message = payments.COMMANDS.parse(create_order("O-1"))
    again = payments.COMMANDS.parse(Envelope.model_validate_json(message.to_json()).model_dump(mode="json"))
    assert again == message


def test_rejections_are_typed_per_service() -> None:
    assert rejection_payload("payments").TYPE == "payments.command.rejected"
    assert rejection_payload("payments") is rejection_payload("payments")


def _signed_callbacks() -> list[type]:
    from shared.contracts.common import SignedCallback

    return sorted({p for c in CONTRACTS.values() for p in c.payloads.values() if issubclass(p, SignedCallback)}, key=lambda p: p.TYPE)


def test_every_signed_callback_names_its_signed_fields_where_partners_read_them() -> None:
    """The signing text is documented per message: its description (the AsyncAPI document) says
    "Signed over" and the fields, in order, and each names a field of the message."""
    callbacks = _signed_callbacks()
    assert {c.TYPE for c in callbacks} == {"psp.charge.completed", "psp.refund.completed", "bank.transfer.completed",
                                           "registry.company.found", "insurer.claim.decided", "insurer.claim.paid"}
    for callback in callbacks:
        assert callback.SIGNED, callback.TYPE
        description = " ".join((callback.model_json_schema().get("description") or "").split())
        assert f"Signed over {', '.join(callback.SIGNED)}." in description, callback.TYPE
        for path in callback.SIGNED:
            head, _, rest = path.partition(".")
            assert head in callback.model_fields and head != "signature", (callback.TYPE, path)
        # every field but the signature is signed: nothing a forger could change unnoticed
        signed_heads = {path.split(".")[0] for path in callback.SIGNED}
        assert signed_heads == set(callback.model_fields) - {"signature"}, callback.TYPE


def test_the_signing_text_is_unambiguous() -> None:
    """With fields joined by a separator, moving one across a field boundary kept the signature."""
    from shared.contracts import psp
    from shared.money import Money

    def callback(txn: str, reason: str | None) -> psp.ChargeCallback:
        return psp.ChargeCallback(intent_id="PI-1", order_id="O-1", status="failed", amount=Money(amount=100),
                                  provider_txn_id=txn, failure_reason=reason, signature="").signed("s")

    genuine, moved = callback("PSP-1|x", "network_error"), callback("PSP-1", "x|network_error")
    assert genuine.signing_text() != moved.signing_text()
    assert not moved.model_copy(update={"signature": genuine.signature}).signature_valid("s")
    assert callback("PSP-1", None).signing_text() == callback("PSP-1", "").signing_text()  # left out = empty text


def test_the_readme_example_of_a_signed_callback_is_right() -> None:
    from pathlib import Path

    from shared.contracts import psp
    from shared.money import Money

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = psp.ChargeCallback(intent_id="PI-O-DEMO-0001-1", order_id="O-DEMO-0001", status="succeeded",
                                 amount=Money(amount=12900), provider_txn_id="PSP-7d2a9c", signature="").signed("example-secret")
    assert example.signing_text() == b"16:PI-O-DEMO-0001-111:O-DEMO-00019:succeeded5:129003:CNY10:PSP-7d2a9c0:"
    assert f"signing text: {example.signing_text().decode()}" in readme
    assert f"signature:    {example.signature}" in readme
