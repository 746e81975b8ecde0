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
