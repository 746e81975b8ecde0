"""Actor assertions: what a token must say to prove a command's sender (pure: no broker, no database)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.assertions import (Verifier, Unauthenticated, canonical_json, command_digest, development_issuers,
                               development_signer, sign_as_actor)

ROOT = Path(__file__).resolve().parents[2]


def _command(**changes: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": "payments.order.pay", "version": 1, "occurred_at": "2026-11-23T08:31:00Z",
            "producer": "buyer-app", "correlation_id": "flow-O-1", "actor": {"kind": "buyer", "id": "B-2001"},
            "data": {"order_id": "O-1", "method": "qr_code"}, **changes}


def test_the_digest_is_sha256_of_the_canonical_type_and_data() -> None:
    assert canonical_json({"type": "t", "data": {"b": 1, "a": "跑"}}) == '{"data":{"a":"跑","b":1},"type":"t"}'.encode()
    assert command_digest("t", {"a": 1}) == command_digest("t", {"a": 1})
    assert command_digest("t", {"a": 1}) != command_digest("u", {"a": 1}) != command_digest("t", {"a": 2})
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", command_digest("t", {}))


def test_a_good_token_gives_its_claims_and_each_flaw_is_named() -> None:
    verifier = Verifier(development_issuers())
    signed = sign_as_actor(_command())
    claims = verifier.verify(signed["token"], signed)
    assert (claims.issuer, claims.subject, claims.kind.value) == ("buyer-app", "B-2001", "buyer")
    flaws = {
        "no token": (None, signed),
        "not a compact JWS": ("a.b", signed),
        "bound to another command": (signed["token"], {**signed, "data": {"order_id": "O-2", "method": "qr_code"}}),
        "not the token's subject": (signed["token"], {**signed, "actor": {"kind": "buyer", "id": "B-2002"}}),
        "expired": (development_signer("buyer-app").issue(kind="buyer", subject="B-2001", type_=signed["type"],
                                                          data=signed["data"], now=time.time() - 1000), signed),
        "issued in the future": (development_signer("buyer-app").issue(kind="buyer", subject="B-2001", type_=signed["type"],
                                                                       data=signed["data"], now=time.time() + 1000), signed),
        "may not assert buyer": (development_signer("merchant-gateway").issue(
            kind="buyer", subject="B-2001", type_=signed["type"], data=signed["data"]), signed),
    }
    for expected, (token, document) in flaws.items():
        with pytest.raises(Unauthenticated, match=expected):
            verifier.verify(token, document)


def test_the_readme_example_makes_a_token_the_platform_accepts(tmp_path: Path) -> None:
    """The README's worked example, run as written, with the development key `danbao issuers dev-key` prints."""
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- token-example:start -->\n```python\n(.*?)```", readme, re.S)
    assert snippet, "the README has the token example"
    key = subprocess.run([sys.executable, "-m", "ops.cli", "issuers", "dev-key", "buyer-app"], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={"PATH": "", "DANBAO_MODE": "dev"}).stdout
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), "README.md", "exec"), namespace)  # noqa: S102 - the documented example itself
    signed = namespace["attach_token"](namespace["command"], "buyer-app", json.loads(key))
    claims = Verifier(development_issuers()).verify(signed["token"], signed)
    assert claims.subject == "B-2001" and claims.issuer == "buyer-app"


def test_ed25519_is_verified_by_libsodium_and_agrees_with_openssl() -> None:
    """The registry's Ed25519 is libsodium's (half OpenSSL's time); on good, altered, foreign and malformed
    signatures it answers as the cryptography package (OpenSSL) does."""
    from cryptography.exceptions import InvalidSignature
    from joserfc.jwk import OKPKey

    from shared.assertions import REGISTRY, SodiumEd25519

    algorithm = REGISTRY.get_alg("Ed25519")
    assert isinstance(algorithm, SodiumEd25519)
    key, other = OKPKey.generate_key("Ed25519"), OKPKey.generate_key("Ed25519")
    public = OKPKey.import_key(key.as_dict(private=False))
    message = b"header.payload"
    good = key.get_op_key("sign").sign(message)
    cases = {"good": (message, good, public), "altered message": (b"header.payloaD", good, public),
             "altered signature": (message, bytes([good[0] ^ 1]) + good[1:], public),
             "another key": (message, good, OKPKey.import_key(other.as_dict(private=False))),
             "too short": (message, good[:63], public), "too long": (message, good + b"\0", public), "empty": (message, b"", public)}
    for name, (msg, sig, verifying) in cases.items():
        try:
            verifying.get_op_key("verify").verify(sig, msg)
            openssl = True
        except InvalidSignature:
            openssl = False
        assert algorithm.verify(msg, sig, verifying) is openssl, name
        assert openssl is (name == "good"), name
    # Through the whole token path: a token whose signature was altered is refused as a bad signature.
    signed = sign_as_actor(_command())
    head, payload, signature = signed["token"].split(".")
    forged = ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))
    with pytest.raises(Unauthenticated, match="bad signature"):
        Verifier(development_issuers()).verify(forged, signed)
    assert REGISTRY.allowed == ["Ed25519", "ES256"]  # nothing else, "none" least of all
