"""The web edge's settings (``DANBAO_WEB_``): where its pages live, how people sign in, the keys it signs
commands with. Production refuses every development default: the session secret, the phone keys, the issuer
keys (it must read both from files) and the development sign-in (it needs OIDC)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.assertions import Signer, development_signer, load_signer
from shared.pii import FieldCipher, development_keys
from shared.sealing import development_public_jwks
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, Mode, PlatformSettings, ServiceSettings

BUYER_ISSUER = "buyer-app"
CONSOLE_ISSUER = "operator-console"


class WebSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_WEB_", extra="ignore", secrets_dir=SECRETS_DIR)

    public_url: str = Field(default="", description="The edge's address as people reach it (printed by `danbao dev`); "
                            "empty: http://127.0.0.1:<port>. Payments' DANBAO_PAYMENTS_PAY_BASE_URL is this plus `/c`.")
    session_secret: str = Field(default=DEV_SECRET_PREFIX + "web-session-secret", min_length=16,
                                description="Signs the session cookie (HttpOnly, SameSite=Lax; Secure in production).")
    session_hours: int = Field(default=8, ge=1, le=24 * 30, description="A session ends this long after sign-in.")
    phone_key: str = Field(default=DEV_SECRET_PREFIX + "web-phone-key", min_length=16,
                           description="HMAC key turning a phone number into the buyer's id (stable, not reversible).")
    pii_keys: str = Field(default_factory=lambda: development_keys("web"),
                          description="Keys encrypting buyers' phone numbers at rest: id:base64(32 bytes), comma separated.")
    sms_url: str = Field(default="http://127.0.0.1:8113/sms", description="SMS gateway for sign-in codes: POST <url>/messages.")
    sms_api_key: str = Field(default=DEV_SECRET_PREFIX + "sms-api-key", description="Bearer key of the SMS gateway.")
    code_minutes: int = Field(default=5, ge=1, le=30, description="A sign-in code works this long, once.")
    code_attempts: int = Field(default=5, ge=1, le=20, description="Wrong codes allowed before a new one is needed.")
    codes_per_hour: int = Field(default=5, ge=1, le=100, description="Sign-in codes sent to one phone per hour at most.")
    buyer_key_file: Path | None = Field(default=None, description="The buyer-app issuer's private key "
                                        "(`{\"issuer\", \"jwk\"}`, `make issuer-keys`); empty: the development key.")
    console_key_file: Path | None = Field(default=None, description="The operator-console issuer's private key; "
                                          "empty: the development key.")
    notifications_seal_keys: str = Field(default="", description="Notifications' public seal keys (a JWK set, JSON) "
                                         "for the buyer's phone; empty: the development keys.")
    evidence_dir: Path | None = Field(default=None, description="Where uploaded evidence is kept; empty: <data dir>/web-evidence.")
    evidence_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest evidence file accepted.")
    dev_sign_in: bool = Field(default=True, description="Dev and test mode: the console offers the development staff "
                              "(OP-1, RV-1, ARB-1). Always off in production.")
    oidc_metadata_url: str = Field(default="", description="The staff identity provider's OpenID configuration URL "
                                   "(required in production).")
    oidc_client_id: str = Field(default="", description="The console's OIDC client id.")
    oidc_client_secret: str = Field(default="", description="The console's OIDC client secret (a secret file).")
    oidc_staff_claim: str = Field(default="preferred_username", description="The ID token claim holding the staff id "
                                  "(the roster's principal id, e.g. ARB-7).")
    dev_merchant_names: str = Field(
        default="M-1001:小盾牌生活馆 Little Shield Store,M-1002:绿盾小吃 Green Shield Snacks,M-1003:数字盾 Digital Shield",
        description="Dev and test mode: display names of the development merchants (onboarding names the real ones).")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_WEB_SESSION_SECRET": self.session_secret, "DANBAO_WEB_PHONE_KEY": self.phone_key,
                "DANBAO_WEB_PII_KEYS": self.pii_keys, "DANBAO_WEB_SMS_API_KEY": self.sms_api_key,
                "DANBAO_WEB_OIDC_CLIENT_SECRET": self.oidc_client_secret or "-"}

    @model_validator(mode="after")
    def _production_needs_real_keys(self) -> WebSettings:
        if PlatformSettings().mode is Mode.PRODUCTION:
            if self.buyer_key_file is None or self.console_key_file is None:
                raise ValueError("production mode: DANBAO_WEB_BUYER_KEY_FILE and DANBAO_WEB_CONSOLE_KEY_FILE must name the "
                                 "edge's issuer keys")
            if not (self.oidc_metadata_url and self.oidc_client_id and self.oidc_client_secret):
                raise ValueError("production mode: the console signs staff in through OIDC only; set "
                                 "DANBAO_WEB_OIDC_METADATA_URL, DANBAO_WEB_OIDC_CLIENT_ID and DANBAO_WEB_OIDC_CLIENT_SECRET")
            if not self.notifications_seal_keys:
                raise ValueError("production mode: DANBAO_WEB_NOTIFICATIONS_SEAL_KEYS must hold notifications' public keys")
            kids = [str(key.get("kid", "")) for key in json.loads(self.notifications_seal_keys).get("keys", [])]
            if not kids or any(kid.startswith(DEV_SECRET_PREFIX) for kid in kids):
                raise ValueError("DANBAO_WEB_NOTIFICATIONS_SEAL_KEYS holds no key, or a development key")
        return self

    @property
    def production(self) -> bool:
        return PlatformSettings().mode is Mode.PRODUCTION

    @property
    def development_sign_in(self) -> bool:
        return self.dev_sign_in and not self.production

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_metadata_url and self.oidc_client_id)

    def cipher(self) -> FieldCipher:
        return FieldCipher.from_spec(self.pii_keys)

    def signer(self, issuer: str) -> Signer:
        """The issuer's private key: from its file, or (dev and test mode) the development key."""
        path = self.buyer_key_file if issuer == BUYER_ISSUER else self.console_key_file
        if path is not None:
            signer = load_signer(path)
            if signer.issuer != issuer:
                raise ValueError(f"{path} holds the key of {signer.issuer}, not {issuer}")
            return signer
        if self.production:
            raise ValueError(f"production mode: no key file for {issuer}")
        return development_signer(issuer)

    def notifications_keys(self) -> dict[str, Any]:
        if self.notifications_seal_keys:
            return dict(json.loads(self.notifications_seal_keys))
        return development_public_jwks("notifications")

    def merchant_names(self) -> dict[str, str]:
        if self.production:
            return {}
        pairs = (item.split(":", 1) for item in self.dev_merchant_names.split(",") if ":" in item)
        return {merchant.strip(): name.strip() for merchant, name in pairs}
