"""Personal data: encrypted at rest (AES-256-GCM, each value tagged with its key id so keys can
rotate), and masked wherever it is shown (`138****5678`). Never written in plaintext to a topic
or a log."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "v1"


class UnreadableValue(ValueError):
    """Not ours, tampered with, or encrypted with a key this service no longer has."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """``id:base64key,id:base64key`` (32-byte keys) as a dict."""
    keys = {}
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        key_id, _, encoded = item.partition(":")
        key = base64.b64decode(encoded)
        if len(key) != 32 or not key_id:
            raise ValueError(f"key {key_id!r} must be an id and 32 bytes of base64")
        keys[key_id] = key
    return keys


def development_keys(purpose: str = "pii") -> str:
    """A fixed key for dev and test mode only (services refuse to start with it in production)."""
    return "dev-only-k1:" + base64.b64encode(hashlib.sha256(f"danbao development {purpose} key".encode()).digest()).decode()


def key_id_of(stored: str) -> str:
    """The id of the key a stored value was encrypted with."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != FORMAT:
        raise UnreadableValue("unknown format")
    return parts[1]


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts with the ``current`` key; decrypts with any of ``keys``. To rotate: add the new key
    as current, re-encrypt what is stored (``shared.pii_store.reencrypt``), then drop the old key."""

    keys: dict[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"the current key {self.current!r} is not among the keys")

    @classmethod
    def from_spec(cls, spec: str, current: str | None = None) -> FieldCipher:
        """Keys as ``id:base64key,id:base64key``: the first encrypts unless ``current`` names another."""
        keys = parse_keys(spec)
        if not keys:
            raise ValueError("no PII key is configured")
        return cls(keys, current or next(iter(keys)))

    def encrypt(self, plaintext: str, context: str) -> str:
        """``context`` (e.g. ``merchant:M-1:id_number``) binds the value to its place: moved elsewhere it will not decrypt."""
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{FORMAT}:{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, context: str) -> str:
        try:
            version, key_id, blob = stored.split(":", 2)
            raw = base64.b64decode(blob)
            key = self.keys[key_id]
        except (ValueError, KeyError) as exc:
            raise UnreadableValue("unknown format or key") from exc
        if version != FORMAT:
            raise UnreadableValue(f"unknown format {version}")
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag as exc:
            raise UnreadableValue("tampered with, or read in the wrong context") from exc

    def needs_rotation(self, stored: str) -> bool:
        return key_id_of(stored) != self.current

    def rotate(self, stored: str, context: str) -> str:
        """Re-encrypt under the current key (for the key-rotation job)."""
        return self.encrypt(self.decrypt(stored, context), context)


def check_phone(phone: str) -> str | None:
    """Why ``phone`` is not a mainland mobile number (never the number itself), or None."""
    return None if re.fullmatch(r"1[3-9]\d{9}", phone) else "must be an 11-digit mainland mobile number"


def check_email(address: str) -> str | None:
    """Why ``address`` is not an e-mail address (never the address itself), or None."""
    return None if re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", address) and len(address) <= 200 else "is not an e-mail address"


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_id_number(number: str) -> str:
    return number[:3] + "*" * (len(number) - 7) + number[-4:] if len(number) > 8 else "****"


def mask_bank_account(number: str) -> str:
    digits = number.replace(" ", "")
    return f"{digits[:4]} **** **** {digits[-4:]}" if len(digits) >= 12 else "****"


def mask_email(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def mask_token(token: str) -> str:
    """A device token or other opaque identifier: enough to tell two apart, not to use one."""
    return f"{token[:4]}…{token[-4:]}" if len(token) >= 12 else "****"
