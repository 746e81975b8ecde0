"""A topic's contract: which message types it carries, as one discriminated union."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from shared.envelope import Envelope, Payload, envelope_model


class UnknownType(LookupError):
    """The message's ``type`` is not carried by this topic."""


class UnsupportedVersion(LookupError):
    """The message's ``version`` is newer than this consumer can read."""


class TopicContract:
    """The message types of one topic, each a payload class with a ``TYPE`` name."""

    def __init__(self, topic: str, description: str, payloads: list[type[Payload]]) -> None:
        self.topic = topic
        self.description = description
        self.payloads = {p.TYPE: p for p in payloads}  # type: ignore[attr-defined]
        self.envelopes = {name: envelope_model(name, p) for name, p in self.payloads.items()}
        members = tuple(self.envelopes.values())
        if len(members) > 1:
            self.union: Any = Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007
        elif members:
            self.union = members[0]
        else:
            self.union = Envelope
        self._adapter = TypeAdapter(self.union)

    def parse(self, document: Any) -> Envelope:
        """Validate a decoded JSON document against this topic's contract.

        Raises ``UnknownType``, ``UnsupportedVersion`` or pydantic's ``ValidationError``.
        """
        if not isinstance(document, dict):
            raise UnknownType("message is not a JSON object")
        type_name = document.get("type")
        payload = self.payloads.get(type_name) if isinstance(type_name, str) else None
        if payload is None:
            raise UnknownType(f"type {type_name!r} is not carried by {self.topic}")
        version = document.get("version", 1)
        if isinstance(version, int) and version > payload.VERSION:
            raise UnsupportedVersion(f"{type_name} version {version} is newer than supported version {payload.VERSION}")
        envelope = self.envelopes[type_name].model_validate(document)
        if envelope.version > payload.VERSION:  # written as "2" or 2.0, which validation reads as 2
            raise UnsupportedVersion(f"{type_name} version {envelope.version} is newer than supported version {payload.VERSION}")
        return envelope

    def parse_json(self, raw: bytes | None, type_name: str) -> Envelope | None:
        """A record whose ``type`` header names its type, validated straight from its bytes (without decoding it
        to Python first); None when anything is off, and the caller then decodes it the long way (``parse``),
        which tells what is wrong."""
        model, payload = self.envelopes.get(type_name), self.payloads.get(type_name)
        if model is None or payload is None or not raw:
            return None
        try:
            envelope = model.model_validate_json(raw)
        except ValidationError:
            return None
        if envelope.version > payload.VERSION or "event_id" not in envelope.model_fields_set:
            return None
        return envelope

    def types(self) -> list[str]:
        return sorted(self.payloads)
