"""Signed, expiring payment tokens: the payment link's token and the in-app SDK token.

A token is ``<intent id>.<expiry unix seconds>.<HMAC-SHA256 of both, hex>``, base64url-encoded,
so the pay page or the app SDK can check it offline with the shared secret and refuse a
tampered or expired one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


class InvalidToken(ValueError):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True)
class PaymentTokens:
    secret: str
    base_url: str
    ttl: timedelta

    def _mac(self, purpose: str, intent_id: str, expires: int) -> str:
        return hmac.new(self.secret.encode(), f"{purpose}|{intent_id}|{expires}".encode(), hashlib.sha256).hexdigest()

    def issue(self, purpose: str, intent_id: str, now: datetime) -> tuple[str, datetime]:
        expires_at = now + self.ttl
        expires = int(expires_at.timestamp())
        raw = f"{intent_id}.{expires}.{self._mac(purpose, intent_id, expires)}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("="), expires_at

    def verify(self, purpose: str, token: str, now: datetime) -> str:
        """The intent id the token pays, if it is genuine and unexpired."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            intent_id, expires_text, mac = raw.rsplit(".", 2)
            expires = int(expires_text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidToken("malformed token") from exc
        if not hmac.compare_digest(mac, self._mac(purpose, intent_id, expires)):
            raise InvalidToken("forged token")
        if now.timestamp() > expires:
            raise InvalidToken(f"token expired at {datetime.fromtimestamp(expires, timezone.utc).isoformat()}")
        return intent_id

    def link(self, intent_id: str, now: datetime) -> tuple[str, datetime]:
        token, expires_at = self.issue("link", intent_id, now)
        return f"{self.base_url}/{intent_id}?token={token}", expires_at
