"""Payloads more than one service emits."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from enum import Enum
from functools import cache
from typing import Annotated, Any, ClassVar, Self

from pydantic import Field

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.envelope import Payload


# Fields many messages carry, described once.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # ids chosen by clients (orders, merchants, buyers, payouts)
OrderRef = Annotated[str, Field(description="Order id.", examples=["O-20261123-0001"])]
MerchantRef = Annotated[str, Field(description="Merchant.", examples=["M-1001"])]
BuyerRef = Annotated[str, Field(description="Buyer.", examples=["B-2001"])]
HoldRef = Annotated[str, Field(description="Hold id.", examples=["H-O-20261123-0001"])]
PayoutRef = Annotated[str, Field(description="Payout id.", examples=["PO-M-1001-20261123-1"])]


class CommandRejected(Payload):
    """A command was refused: illegal transition, wrong actor or invalid field. Nothing changed."""

    TYPE: ClassVar[str] = "command.rejected"

    command_type: str = Field(description="Type of the refused command.", examples=["payments.order.pay"])
    command_event_id: str = Field(description="`event_id` of the refused command.", examples=["7f1c1f0e-2f0a-4a7e-9a57-2b0c6b1f9f10"])
    aggregate_id: str | None = Field(default=None, description="The order, hold, merchant or case concerned.", examples=["O-20261123-0001"])
    reason: str = Field(description="Machine-readable reason code.", examples=["forbidden"])
    detail: str = Field(description="Human-readable explanation (en).", examples=["only the order's buyer may pay it"])


@cache
def rejection_payload(service: str) -> type[CommandRejected]:
    """The rejection payload class a service emits, typed ``<service>.command.rejected``."""
    return type(f"{service.capitalize()}CommandRejected", (CommandRejected,), {"TYPE": f"{service}.command.rejected", "__doc__": CommandRejected.__doc__})


class DeadLetter(Payload):
    """A message the service could never process, kept with the reason and the original bytes."""

    TYPE: ClassVar[str] = "deadletter.recorded"

    reason: str = Field(description="Reason code: malformed_json, unknown_type, unsupported_version, invalid_payload, bad_signature, handler_error.", examples=["invalid_payload"])
    detail: str = Field(description="What exactly was wrong.", examples=["data.amount.amount: Input should be greater than or equal to 0"])
    consumer: str = Field(description="The consumer that gave up on it.", examples=["payments"])
    source_topic: str = Field(description="Where it was read.", examples=["danbao.payments.commands"])
    source_partition: int = Field(description="Partition it was read from.", examples=[0])
    source_offset: int = Field(description="Offset it was read at.", examples=[42])
    source_key: str | None = Field(default=None, description="Its Kafka key, if any.", examples=["O-20261123-0001"])
    original: str = Field(description="The original message value, as text or base64; sealed when the topic carries personal data.",
                          examples=['{"type": "payments.order.create", ...}'])
    original_encoding: str = Field(description="`utf-8`, `base64`, or `sealed`: the base64 of the value encrypted with the "
                                               "service's personal-data key (AES-GCM), which `danbao dlq replay` opens.",
                                   examples=["utf-8"])


def signing_text(values: Iterable[str]) -> bytes:
    """``<byte length>:<UTF-8 text>`` of each value, concatenated."""
    out = bytearray()
    for value in values:
        data = value.encode()
        out += b"%d:%s" % (len(data), data)
    return bytes(out)


@cache
def dead_letter_contract(service: str) -> TopicContract:
    return TopicContract(topics.dead_letters(service), f"Messages the {service} service could never process.", [DeadLetter])


class SignedCallback(Payload):
    """A partner's callback (payment provider, bank, registry, insurer), signed with the shared callback
    secret: ``signature`` is the hex HMAC-SHA256 of the signing text.

    The signing text is made of the fields in ``SIGNED`` (each message's description lists them), in
    that order. Each value is taken as UTF-8 text: amounts in fen as decimal digits, codes as they are
    written in the message, and a field left out as empty text. Each is written as its length in
    bytes, a colon and the text (``8:PI-O-1-1``), and the pieces are concatenated with nothing
    between them. The lengths make the text unambiguous: no two sets of values give the same text."""

    SIGNED: ClassVar[tuple[str, ...]] = ()

    signature: str = Field(description="Hex HMAC-SHA256, with the shared callback secret, of the signing text: the fields "
                                       "named in the message's description, in that order, each written as its UTF-8 length "
                                       "in bytes, ':' and its text (a field left out: '0:'), concatenated.",
                           examples=["9f86d081884c7d65..."])

    def signing_text(self) -> bytes:
        return signing_text(self._signed_value(path) for path in self.SIGNED)

    def _signed_value(self, path: str) -> str:
        value: Any = self
        for name in path.split("."):
            value = getattr(value, name) if value is not None else None
        if value is None:
            return ""
        return str(value.value if isinstance(value, Enum) else value)

    def expected_signature(self, secret: str) -> str:
        return hmac.new(secret.encode(), self.signing_text(), hashlib.sha256).hexdigest()

    def signed(self, secret: str) -> Self:
        return self.model_copy(update={"signature": self.expected_signature(secret)})

    def signature_valid(self, secret: str) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters, which a forged signature may have.
        return hmac.compare_digest(self.signature.encode(), self.expected_signature(secret).encode())


def sealed(what: str, *, optional: bool = False) -> Any:
    """A personal field of a command: it travels sealed to the receiving service (``shared.sealing``).
    The JSON schema shows the compact-JWE pattern; the service itself checks it, so a plaintext value
    is answered with a rejection (``unsealable_field``) rather than dead-lettered with its content."""
    from shared.sealing import COMPACT_JWE, EXAMPLE, MAX_SEALED_LENGTH

    return Field(
        default=None if optional else ..., max_length=MAX_SEALED_LENGTH, examples=[EXAMPLE],
        description=f"{what} **Sealed**: a compact JWE (RFC 7516) to the service's current public key (the first key of "
                    "its set at `/keys/seal` on its HTTP port, or `danbao seal keys <service>`): `alg` ECDH-ES, `enc` "
                    "A256GCM, and in the protected header the key's `kid`, `field` (this field's name) and `party` (the "
                    "command's merchant or party id). A plaintext value, or one sealed for another field, party or key, "
                    "is rejected with `unsealable_field`.",
        json_schema_extra={"pattern": COMPACT_JWE, "contentMediaType": "application/jose"},
    )
