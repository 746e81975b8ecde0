"""Personal data sealed at the edge: a client encrypts each personal field of a command to the
receiving service's public key before the command enters Kafka; only that service opens it.

A sealed value is a JWE in compact serialization (RFC 7516): ``alg`` ECDH-ES on the service's
X25519 key (OKP, RFC 8037), ``enc`` A256GCM, and in the protected header the key's ``kid``, the
``field`` it belongs to and the ``party`` (the merchant or party id of the command). The
protected header is authenticated with the ciphertext, so a sealed value moved to another field
or another applicant does not open. Any JOSE library can seal: fetch the service's public key
set (``/keys/seal`` on its HTTP port, or ``danbao seal keys <service>``), take the first key
(the current one), encrypt.

A service holds its private keys as a JWK set: every key listed opens, the first is current.
In dev and test mode each service derives its keys from its name (kid ``dev-only-…``), which
production refuses.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey
from joserfc.registry import HeaderParameter
from joserfc.util import urlsafe_b64decode

from pydantic import Field, model_validator

from shared.settings import DEV_SECRET_PREFIX, Mode, PlatformSettings, ServiceSettings

ALG = "ECDH-ES"
ENC = "A256GCM"
FIELD_HEADER = "field"
PARTY_HEADER = "party"
# Five base64url parts; the second (the encrypted key) is empty with ECDH-ES direct key agreement.
COMPACT_JWE = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
MAX_SEALED_LENGTH = 4096
_KID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# A real compact JWE (an e-mail address sealed with onboarding's development key), for the contracts' examples.
EXAMPLE = ("eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSIsImtpZCI6ImRldi1vbmx5LW9uYm9hcmRpbmctc2VhbC0xIiwiZmllbGQiOiJlbWFpbC"
           "IsInBhcnR5IjoiTS0xMDAxIiwiZXBrIjp7ImNydiI6IlgyNTUxOSIsIngiOiI3YXE2eS1aYWt3NW5nQmtrekpkSm9McHNtbGxRaS1HZ3RLVmxW"
           "VE9aSGg0Iiwia3R5IjoiT0tQIn19..1i0zbj8ghygQX-G0.odnzSMwh7Ovj4F0Tk9OycYlRzQ.2J4sp96oXcOOc9bRsa10eg")


@dataclass(frozen=True)
class SealedFields:
    """Which fields of a command type travel sealed, and which field names the party they belong to."""

    fields: tuple[str, ...]
    party_field: str


SEALED_COMMANDS: dict[str, SealedFields] = {
    "onboarding.application.submit": SealedFields(
        ("legal_rep_name", "legal_rep_id_number", "settlement_account", "phone", "email"), "merchant_id"),
    "notifications.contact.register": SealedFields(("phone", "email"), "party_id"),
    "notifications.webhook.register": SealedFields(("secret",), "merchant_id"),
}


class UnsealableValue(ValueError):
    """Not a sealed value, or one this service cannot open for this field and party. The message
    never contains the value."""


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_SEALED_LENGTH and re.fullmatch(COMPACT_JWE, value) is not None


def service_of(command_type: str) -> str:
    return command_type.split(".", 1)[0]


_REGISTRY = jwe.JWERegistry(
    header_registry={FIELD_HEADER: HeaderParameter("The command field the value belongs to", "str", True),
                     PARTY_HEADER: HeaderParameter("The merchant or party the value belongs to", "str", True)},
    algorithms=["ECDH-ES", "ECDH-ES+A256KW", ENC],
)


def development_private_jwks(service: str) -> dict[str, Any]:
    """The fixed key set of dev and test mode (derived from the service's name; production refuses it)."""
    seed = hashlib.sha256(f"danbao development {service} seal key".encode()).digest()
    key = OKPKey.import_key(X25519PrivateKey.from_private_bytes(seed),
                            parameters={"kid": f"{DEV_SECRET_PREFIX}{service}-seal-1", "use": "enc", "alg": ALG})
    return {"keys": [key.as_dict(private=True)]}


def development_public_jwks(service: str) -> dict[str, Any]:
    return SealKeys(development_private_jwks(service)).public_jwks()


def generate_private_jwk(kid: str) -> dict[str, Any]:
    """A new X25519 private key, for a key set (``danbao seal keygen``)."""
    return OKPKey.generate_key("X25519", parameters={"kid": kid, "use": "enc", "alg": ALG}).as_dict(private=True)


def _parse_jwks(jwks: Mapping[str, Any] | str) -> dict[str, Any]:
    document = json.loads(jwks) if isinstance(jwks, str) else dict(jwks)
    if not isinstance(document.get("keys"), list) or not document["keys"]:
        raise ValueError("a key set needs a non-empty `keys` list")
    for key in document["keys"]:
        if not isinstance(key, dict) or not _KID.fullmatch(str(key.get("kid", ""))):
            raise ValueError("every key needs a `kid` of letters, digits and . _ : -")
        if key.get("kty") != "OKP" or key.get("crv") != "X25519":
            raise ValueError(f"key {key['kid']!r} must be an X25519 OKP key")
    return document


class SealKeys:
    """A service's private seal keys: every one opens, the first is current (published first)."""

    def __init__(self, jwks: Mapping[str, Any] | str) -> None:
        document = _parse_jwks(jwks)
        self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        self.key_ids = [str(k["kid"]) for k in document["keys"]]
        if any("d" not in k for k in document["keys"]):
            raise ValueError("a service's seal key set must hold private keys (`d`)")

    @property
    def current(self) -> str:
        return self.key_ids[0]

    def public_jwks(self) -> dict[str, Any]:
        """What clients seal with: the current key first."""
        return {"keys": [{**k.as_dict(private=False), "use": "enc", "alg": ALG} for k in self._keys.keys]}

    def open(self, value: Any, field: str, party: str) -> str:
        """The plaintext of ``value``, sealed for ``field`` of ``party``; else ``UnsealableValue``."""
        if not is_sealed(value):
            raise UnsealableValue("is not sealed: a compact JWE to the service's public key is required")
        try:
            kid = json.loads(urlsafe_b64decode(value.split(".", 1)[0].encode())).get("kid")
        except (ValueError, TypeError, AttributeError) as exc:
            raise UnsealableValue("is not a readable compact JWE") from exc
        if not isinstance(kid, str) or kid not in self.key_ids:
            shown = repr(kid) if isinstance(kid, str) and _KID.fullmatch(kid) else "(none or malformed)"
            raise UnsealableValue(f"is sealed with key id {shown}, which this service does not hold")
        try:
            opened = jwe.decrypt_compact(value, self._keys, registry=_REGISTRY)
        except (JoseError, ValueError, TypeError) as exc:
            raise UnsealableValue(f"does not open with key {kid!r}: tampered with, or not sealed to it") from exc
        header = opened.protected
        if header.get(FIELD_HEADER) != field or header.get(PARTY_HEADER) != party:
            raise UnsealableValue(f"was sealed for another field or party, not {field} of {party}")
        try:
            return (opened.plaintext or b"").decode()
        except UnicodeDecodeError as exc:
            raise UnsealableValue("does not hold UTF-8 text") from exc


def seal(value: str, field: str, party: str, public_jwks: Mapping[str, Any] | str) -> str:
    """``value`` sealed for ``field`` of ``party`` with the first (current) key of ``public_jwks``."""
    document = json.loads(public_jwks) if isinstance(public_jwks, str) else public_jwks
    jwk = dict(document["keys"][0])
    key = OKPKey.import_key({k: v for k, v in jwk.items() if k != "d"})
    header = {"alg": ALG, "enc": ENC, "kid": jwk["kid"], FIELD_HEADER: field, PARTY_HEADER: party}
    return jwe.encrypt_compact(header, value.encode(), key, registry=_REGISTRY)


def seal_command(document: dict[str, Any], public_keys: Mapping[str, Any] | str) -> dict[str, Any]:
    """The command ``document`` (an envelope) with its personal fields sealed to ``public_keys``
    (the receiving service's public JWK set). Fields already sealed, absent or null are left as
    they are; a command type without personal fields comes back unchanged. Seal first, then sign."""
    spec = SEALED_COMMANDS.get(str(document.get("type")))
    data = document.get("data")
    if spec is None or not isinstance(data, dict):
        return document
    sealed = copy.deepcopy(document)
    party = str(data.get(spec.party_field, ""))
    for name in spec.fields:
        value = data.get(name)
        if isinstance(value, str) and not is_sealed(value):
            sealed["data"][name] = seal(value, name, party, public_keys)
    return sealed


def seal_for_development(document: dict[str, Any]) -> dict[str, Any]:
    """``seal_command`` with the development keys of the service the command goes to (dev and test mode)."""
    return seal_command(document, development_public_jwks(service_of(str(document.get("type", "")))))


def refuse_development_keys(name: str, jwks: Mapping[str, Any] | str) -> None:
    """Production refuses a key set holding a development key (kid ``dev-only-…``)."""
    for kid in SealKeys(jwks).key_ids:
        if kid.startswith(DEV_SECRET_PREFIX):
            raise ValueError(f"{name} still holds the development key {kid}; set it for production")


class SealSettings(ServiceSettings):
    """Settings of a service that receives sealed fields: its private key set (``DANBAO_<SERVICE>_SEAL_PRIVATE_KEYS``,
    or the file ``danbao_<service>_seal_private_keys`` in ``DANBAO_SECRETS_DIR``). Empty means the development keys,
    which production refuses."""

    seal_private_keys: str = Field(
        default="", description="The service's private seal keys, a JWK set (JSON) of X25519 keys with a `kid` each: "
                                "every one listed opens sealed fields, the first is current and published first. Empty: the "
                                "development keys (dev and test mode only).")

    @property
    def service_name(self) -> str:
        return str(self.model_config.get("env_prefix", "")).removeprefix("DANBAO_").rstrip("_").lower()

    @model_validator(mode="after")
    def _seal_keys_readable(self) -> SealSettings:
        if not self.seal_private_keys:
            self.seal_private_keys = json.dumps(development_private_jwks(self.service_name))
        SealKeys(self.seal_private_keys)  # fail fast on a malformed set
        if PlatformSettings().mode is Mode.PRODUCTION:
            refuse_development_keys(f"DANBAO_{self.service_name.upper()}_SEAL_PRIVATE_KEYS", self.seal_private_keys)
        return self

    def seal_keys(self) -> SealKeys:
        return SealKeys(self.seal_private_keys)


def opened(keys: SealKeys, message: Any) -> Any:
    """The command of ``message`` (an envelope) with its sealed fields opened, for the handler; a field that
    does not open is a business rejection (``unsealable_field``) whose detail names the field, never its value."""
    from shared.unit_of_work import Rejected

    spec = SEALED_COMMANDS[message.type]
    command = message.data
    party = str(getattr(command, spec.party_field))
    values: dict[str, str] = {}
    for name in spec.fields:
        value = getattr(command, name)
        if value is None:
            continue
        try:
            values[name] = keys.open(value, name, party)
        except UnsealableValue as exc:
            raise Rejected("unsealable_field", f"{name} {exc}", party) from None
    return command.model_copy(update=values)
