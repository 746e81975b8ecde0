"""Signed actor assertions: who sent a command, proven.

Every command that acts for a person carries ``token``: a JWT (a JWS in compact form, signed
with Ed25519 or ES256; joserfc does the cryptography) issued by an edge the platform trusts.
Its claims:

- ``iss``: the issuer (``buyer-app``, ``merchant-gateway``, ``operator-console``, ``admin-console``),
  each allowed to assert some actor kinds only (the buyer app buyers, the console staff);
- ``sub`` and ``kind``: the actor, which must equal the envelope's ``actor``;
- ``roles``: the staff roles the issuer asserts (checked again against the platform's roster);
- ``aud``: the service the command is for (the first part of its type: ``payments`` for
  ``payments.order.pay``; ``control`` for the control topic);
- ``iat``, ``exp`` (minutes later) and a unique ``jti``: a token is used once;
- ``cmd``: the digest of the command's ``type`` and ``data`` (``command_digest``), so a token
  cannot be lifted onto another command.

Ed25519 signatures are checked by libsodium (PyNaCl) in joserfc's place (``SodiumEd25519``): it verifies in
half OpenSSL's time, and a service checks a token for every command it takes.

Services hold each trusted issuer's public keys (a JWKS: key ids, more than one during a
rotation). In dev and test mode the development issuers below are trusted and anyone on this
machine can sign with them; production refuses their keys.
"""

from __future__ import annotations

import functools

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey
from joserfc.jws import JWSAlgModel, JWSRegistry
from nacl.exceptions import BadSignatureError as SodiumBadSignature
from nacl.signing import VerifyKey

from shared.envelope import ActorKind

ALGORITHMS = ["Ed25519", "ES256"]
DEV_KEY_PREFIX = "dev-only-"
STAFF_KINDS = frozenset({ActorKind.OPERATOR, ActorKind.REVIEWER, ActorKind.ARBITRATOR})
MAX_TOKEN_LENGTH = 4096

# The edges the platform trusts, and the actor kinds each may assert.
ISSUER_KINDS: dict[str, frozenset[ActorKind]] = {
    "buyer-app": frozenset({ActorKind.BUYER}),
    "merchant-gateway": frozenset({ActorKind.MERCHANT}),
    "operator-console": STAFF_KINDS,
    "admin-console": frozenset({ActorKind.ADMIN}),
}


class Unauthenticated(Exception):
    """The token is missing, malformed, forged, expired, for another audience, from an unknown
    issuer, used before, or bound to another command."""


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no spaces, UTF-8 (RFC 8785 for Danbao's payloads: ASCII keys, integers)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def command_digest(type_: str, data: Any) -> str:
    """base64url (no padding) of SHA-256 over the canonical JSON of ``{"data": …, "type": …}``."""
    digest = hashlib.sha256(canonical_json({"type": type_, "data": data})).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def audience_of(type_: str) -> str:
    """The service a command type is for: ``payments`` for ``payments.order.pay``."""
    return type_.split(".", 1)[0]


# -- issuing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """An issuer's private key: what an edge (app backend, gateway, console) signs with."""

    issuer: str
    key: OKPKey | ECKey

    @property
    def algorithm(self) -> str:
        return "Ed25519" if isinstance(self.key, OKPKey) else "ES256"

    def issue(self, *, kind: str, subject: str, type_: str, data: Any, roles: Iterable[str] = (),
              audience: str | None = None, ttl_seconds: int = 300, now: float | None = None,
              jti: str | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer, "sub": subject, "kind": str(kind), "roles": sorted(str(r) for r in roles),
            "aud": audience or audience_of(type_), "iat": issued, "exp": issued + ttl_seconds,
            "jti": jti or uuid.uuid4().hex, "cmd": command_digest(type_, data),
        }
        header = {"alg": self.algorithm, "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[self.algorithm])

    def sign(self, document: dict[str, Any], *, roles: Iterable[str] = (), ttl_seconds: int = 300) -> dict[str, Any]:
        """The command ``document`` (a JSON envelope as a dict) with its ``token`` set for its actor."""
        actor = document["actor"]
        token = self.issue(kind=actor["kind"], subject=actor["id"], type_=document["type"], data=document["data"],
                           roles=roles, ttl_seconds=ttl_seconds)
        return {**document, "token": token}

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}


@functools.lru_cache(maxsize=None)
def development_signer(issuer: str) -> Signer:
    """The development key of ``issuer``, derived from its name (dev and test mode only)."""
    seed = hashlib.sha256(f"danbao development issuer {issuer}".encode()).digest()
    private = Ed25519PrivateKey.from_private_bytes(seed)
    key = OKPKey.import_key(private, parameters={"kid": f"{DEV_KEY_PREFIX}{issuer}-1", "use": "sig"})
    return Signer(issuer, key)


def issuer_for(kind: str) -> str:
    """The development issuer that asserts actors of ``kind``."""
    for issuer, kinds in ISSUER_KINDS.items():
        if kind in kinds:
            return issuer
    raise LookupError(f"no issuer asserts {kind!r} actors")


def sign_as_actor(document: dict[str, Any], *, ttl_seconds: int = 300) -> dict[str, Any]:
    """Sign a command for its own actor with the development issuer of the actor's kind (the
    development roster's roles included). What ``danbao send`` and the tests do in dev mode."""
    kind = document["actor"]["kind"]
    roles = [kind] if kind in STAFF_KINDS or kind == ActorKind.ADMIN else []
    return development_signer(issuer_for(kind)).sign(document, roles=roles, ttl_seconds=ttl_seconds)


def load_signer(path: Path) -> Signer:
    """An issuer's private key from a JSON file ``{"issuer": …, "jwk": {…private JWK with kid…}}``."""
    document = json.loads(path.read_text())
    jwk = document["jwk"]
    key: OKPKey | ECKey = OKPKey.import_key(jwk) if jwk.get("kty") == "OKP" else ECKey.import_key(jwk)
    return Signer(document["issuer"], key)


# -- verifying ----------------------------------------------------------------------------------


class SodiumEd25519(JWSAlgModel):
    """JWS ``Ed25519`` (RFC 9864) as joserfc's own, its signatures verified by libsodium. Keys are joserfc's OKP keys,
    checked by joserfc (type and curve) before ``verify``; signing stays joserfc's."""

    name = "Ed25519"
    description = "EdDSA using the Ed25519 parameter set, verified by libsodium"
    key_type = "OKP"

    def __init__(self) -> None:
        self._joserfc = JWSRegistry.algorithms["Ed25519"]

    def check_key(self, key: OKPKey) -> None:  # type: ignore[override]
        self._joserfc.check_key(key)  # an OKP key on the Ed25519 curve, for verifying

    def sign(self, msg: bytes, key: OKPKey) -> bytes:  # type: ignore[override]
        return self._joserfc.sign(msg, key)

    def verify(self, msg: bytes, sig: bytes, key: OKPKey) -> bool:  # type: ignore[override]
        try:
            _sodium_key(key.get_op_key("verify").public_bytes_raw()).verify(msg, sig)
        except (SodiumBadSignature, ValueError, TypeError):  # a forged signature, or one of the wrong length
            return False
        return True


@functools.lru_cache(maxsize=256)
def _sodium_key(raw: bytes) -> VerifyKey:
    return VerifyKey(raw)


class _Registry(JWSRegistry):
    algorithms = {**JWSRegistry.algorithms, "Ed25519": SodiumEd25519()}


# Built once (joserfc builds one per token otherwise), allowing exactly ALGORITHMS.
REGISTRY = _Registry(algorithms=ALGORITHMS)


@dataclass(frozen=True)
class TrustedIssuer:
    name: str
    kinds: frozenset[ActorKind]
    keys: KeySet


@dataclass(frozen=True)
class Claims:
    issuer: str
    subject: str
    kind: ActorKind
    roles: frozenset[str]
    jti: str
    expires_at: float


@dataclass
class Verifier:
    """Checks a command's token against the trusted issuers (see the module's description)."""

    issuers: Mapping[str, TrustedIssuer]
    leeway_seconds: int = 60
    max_lifetime_seconds: int = 900
    wall_clock: Any = field(default=time.time)  # real time: tokens are issued in real time, not the test clock

    def verify(self, token: Any, document: Mapping[str, Any], at: float | None = None) -> Claims:
        """The token's claims if it is good for this command document (at ``at``, Unix time; now by
        default); else ``Unauthenticated``."""
        if token is None:
            raise Unauthenticated("the command carries no token")
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise Unauthenticated("the token is not a compact JWS")
        try:
            header = json.loads(_b64(token.split(".", 1)[0]))
            unverified = json.loads(_b64(token.split(".")[1]))
        except (ValueError, UnicodeDecodeError) as exc:
            raise Unauthenticated("the token is not a compact JWS") from exc
        if not isinstance(header, dict) or not isinstance(unverified, dict):
            raise Unauthenticated("the token is not a compact JWS")
        issuer = self.issuers.get(unverified.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise Unauthenticated(f"unknown issuer {str(unverified.get('iss'))[:64]!r}")
        try:
            claims = jwt.decode(token, issuer.keys, registry=REGISTRY).claims
        except jose_errors.BadSignatureError as exc:
            raise Unauthenticated(f"bad signature for issuer {issuer.name}") from exc
        except (jose_errors.JoseError, ValueError, KeyError, TypeError) as exc:
            raise Unauthenticated(f"unreadable token: {type(exc).__name__}") from exc
        return self._check(issuer, claims, document, self.wall_clock() if at is None else at)

    def _check(self, issuer: TrustedIssuer, claims: Mapping[str, Any], document: Mapping[str, Any], now: float) -> Claims:
        for name in ("sub", "kind", "aud", "iat", "exp", "jti", "cmd"):
            if name not in claims:
                raise Unauthenticated(f"the token has no {name!r} claim")
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise Unauthenticated("iat and exp must be integers")
        if exp < now - self.leeway_seconds:
            raise Unauthenticated(f"the token expired {int(now - exp)} s ago")
        if iat > now + self.leeway_seconds:
            raise Unauthenticated("the token was issued in the future")
        if exp - iat > self.max_lifetime_seconds:
            raise Unauthenticated(f"the token lives longer than {self.max_lifetime_seconds} s")
        type_ = document.get("type")
        expected_audience = audience_of(type_) if isinstance(type_, str) else None
        audience = claims["aud"]
        if audience != expected_audience and not (isinstance(audience, list) and expected_audience in audience):
            raise Unauthenticated(f"the token is for {str(audience)[:64]!r}, not {expected_audience!r}")
        if claims["cmd"] != command_digest(str(type_), document.get("data")):
            raise Unauthenticated("the token is bound to another command (its cmd digest differs)")
        actor = document.get("actor") or {}
        if claims["sub"] != actor.get("id") or claims["kind"] != actor.get("kind"):
            raise Unauthenticated("the envelope's actor is not the token's subject")
        try:
            kind = ActorKind(claims["kind"])
        except ValueError as exc:
            raise Unauthenticated(f"unknown actor kind {str(claims['kind'])[:32]!r}") from exc
        if kind not in issuer.kinds:
            raise Unauthenticated(f"issuer {issuer.name} may not assert {kind.value} actors")
        jti, roles = claims["jti"], claims.get("roles", [])
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise Unauthenticated("jti must be text of 8 to 128 characters")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated("roles must be a list of text")
        return Claims(issuer.name, str(claims["sub"]), kind, frozenset(roles), jti, float(exp))


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parse_issuers(document: Mapping[str, Any]) -> dict[str, TrustedIssuer]:
    """Trusted issuers from ``{"issuers": [{"issuer": …, "kinds": […], "jwks": {"keys": […]}}]}``."""
    issuers = {}
    for entry in document.get("issuers", []):
        kinds = frozenset(ActorKind(k) for k in entry["kinds"])
        if ActorKind.SYSTEM in kinds:
            raise ValueError(f"issuer {entry['issuer']!r} may not assert system actors")
        issuers[entry["issuer"]] = TrustedIssuer(entry["issuer"], kinds, KeySet.import_key_set(entry["jwks"]))
    return issuers


@cache
def development_issuers() -> dict[str, TrustedIssuer]:
    return {name: TrustedIssuer(name, kinds, KeySet.import_key_set(development_signer(name).public_jwks()))
            for name, kinds in ISSUER_KINDS.items()}


def development_issuers_document() -> dict[str, Any]:
    """The development issuers as a trusted-issuers document (what production replaces)."""
    return {"issuers": [{"issuer": name, "kinds": sorted(k.value for k in kinds), "jwks": development_signer(name).public_jwks()}
                        for name, kinds in ISSUER_KINDS.items()]}


def development_keys_in(issuers: Mapping[str, TrustedIssuer]) -> list[str]:
    """Key ids of development keys among ``issuers`` (production refuses to start with any)."""
    return [key.kid for issuer in issuers.values() for key in issuer.keys.keys
            if key.kid and key.kid.startswith(DEV_KEY_PREFIX)]
