"""The collection code's token: a JWT (HS256, keyed with ``DANBAO_PAYMENTS_PAYMENT_TOKEN_SECRET``) naming the code,
its merchant and kind, and when it stops working. The token is the last part of the code's URL, so a QR code or
link cannot be altered to pay another merchant, or to work longer, without the platform noticing.

Only payments holds the key: a cashier page or app SDK passes the token on and payments decides. Payments keeps
each code's row too (single use, revocation), so a genuine token of a used or revoked code is still refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import OctKey

ISSUER = "danbao-payments"
TOKEN_TYPE = "collection"


class InvalidToken(ValueError):
    """The token is malformed, forged or expired; ``reason`` is the rejection's code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class CodeClaims:
    code_id: str
    merchant_id: str
    kind: str
    expires_at: datetime


@dataclass(frozen=True)
class CollectionTokens:
    secret: str
    base_url: str

    @property
    def _key(self) -> OctKey:
        return OctKey.import_key(self.secret.encode())

    def issue(self, code_id: str, merchant_id: str, kind: str, expires_at: datetime, now: datetime) -> str:
        claims = {"iss": ISSUER, "typ": TOKEN_TYPE, "sub": code_id, "mid": merchant_id, "kind": kind,
                  "iat": int(now.timestamp()), "exp": int(expires_at.timestamp())}
        return jwt.encode({"alg": "HS256"}, claims, self._key)

    def url(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/{token}"

    def verify(self, token: str, now: datetime) -> CodeClaims:
        """The code the token names, if it is genuine and unexpired (``now``: the platform's clock)."""
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"]).claims
        except jose_errors.BadSignatureError as exc:
            raise InvalidToken("invalid_code", "the code's signature does not match: it was not issued by the platform") from exc
        except (jose_errors.JoseError, ValueError, TypeError) as exc:
            raise InvalidToken("invalid_code", f"the code's token is malformed: {exc}") from exc
        try:
            if claims["iss"] != ISSUER or claims["typ"] != TOKEN_TYPE:
                raise InvalidToken("invalid_code", "the token is not a collection code")
            code = CodeClaims(str(claims["sub"]), str(claims["mid"]), str(claims["kind"]),
                              datetime.fromtimestamp(int(claims["exp"]), timezone.utc))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("invalid_code", f"the code's token lacks a claim: {exc}") from exc
        if now >= code.expires_at:
            raise InvalidToken("code_expired", f"the code expired at {code.expires_at.isoformat()}")
        return code
