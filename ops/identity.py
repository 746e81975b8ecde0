"""Signing the commands the operator tools send (``danbao send``, the demo, chaos, bench, burst).

In dev and test mode a command is signed for its own actor with the development issuer of that
actor's kind, as the buyer app, merchant gateway or consoles would. Elsewhere the tools sign with
the issuer key in ``DANBAO_SIGNING_KEY_FILE`` (``{"issuer": …, "jwk": {private JWK}}``), which can only
assert the actor kinds its issuer may; production has no development keys."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from shared.assertions import STAFF_KINDS, load_signer, sign_as_actor
from shared.envelope import ActorKind
from shared.settings import Mode, PlatformSettings

SIGNING_KEY_VARIABLE = "DANBAO_SIGNING_KEY_FILE"


@functools.lru_cache(maxsize=8)
def _production(mode: str | None) -> bool:
    """Whether the settings say production, for this value of ``DANBAO_MODE`` (reading the settings costs more
    than signing: the bench signs thousands of commands a second)."""
    return PlatformSettings().mode is Mode.PRODUCTION


def sign(document: dict[str, Any], ttl_seconds: int = 300) -> dict[str, Any]:
    """``document`` with a token for its actor; events and system actors are left as they are."""
    kind = document.get("actor", {}).get("kind")
    if kind in (None, ActorKind.SYSTEM.value):
        return document
    key_file = os.environ.get(SIGNING_KEY_VARIABLE)
    if key_file:
        roles = [kind] if kind in STAFF_KINDS or kind == ActorKind.ADMIN.value else []
        return load_signer(Path(key_file)).sign(document, roles=roles, ttl_seconds=ttl_seconds)
    if _production(os.environ.get("DANBAO_MODE")):
        raise RuntimeError(f"production mode: set {SIGNING_KEY_VARIABLE} to an issuer's key to sign commands")
    return sign_as_actor(document, ttl_seconds=ttl_seconds)
