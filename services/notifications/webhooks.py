"""Merchant webhook signatures: HMAC-SHA256 over ``f"{t}.{body}"``, in one header.

    Danbao-Signature: t=1763886600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd[,v1=<old secret>]

``t`` is the Unix time of the attempt (each retry signs afresh). While a secret is being
rotated the header carries one ``v1`` per secret, so a receiver holding either verifies it.
A receiver rejects a signature older (or newer) than 5 minutes, which stops replays.
``verify`` below is the reference a merchant can copy; the README shows it standalone.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlsplit

HEADER = "Danbao-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature is missing, malformed, stale, or made with another secret."""


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The header value: the current secret first, then any still in its rotation overlap."""
    if not secrets:
        raise ValueError("at least one secret signs")
    return ",".join([f"t={timestamp}", *(f"v1={_mac(s, timestamp, body)}" for s in secrets)])


def verify(body: bytes, header: str, secret: str, now: float, tolerance: int = TOLERANCE_SECONDS) -> int:
    """Check ``header`` against the raw request body; returns its timestamp, or raises SignatureError."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("no timestamp or no v1 signature")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"timestamp {timestamp} is more than {tolerance}s away from now")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureError("no signature matches this secret")
    return timestamp


def secret_id(secret: str) -> str:
    """A secret's fingerprint, safe to show: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def host_of(url: str) -> str:
    """The endpoint's host (and port), never credentials written into the URL."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1]


def shown_url(url: str) -> str:
    """The endpoint as it may be shown: no credentials, no query string (either may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{host_of(url)}{parts.path}"
