"""Personal data, for operators: values per key at rest, re-encryption after a key rotation, and the
public keys clients seal personal fields with.

A service takes part by declaring ``ENCRYPTED_COLUMNS`` in its ``store.py`` and a ``cipher()`` on
its settings class (``<Service>Settings`` in its ``config.py``), as onboarding does."""

from __future__ import annotations

import importlib
import json
import importlib.util
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.docs import SERVICE_APPS
from ops.stores import service_database
from shared.db import Database
from shared.pii import FieldCipher
from shared.pii_store import EncryptedColumns, Reencryption, key_counts, reencrypt
from shared.sealing import SEALED_COMMANDS, seal_command, service_of


@dataclass
class PiiRun:
    current: str
    before: dict[str, Counter[str]]
    report: Reencryption | None = None
    after: dict[str, Counter[str]] | None = None


@asynccontextmanager
async def service_pii(service: str) -> AsyncIterator[tuple[Database, FieldCipher, list[EncryptedColumns]]]:
    """The service's database, its cipher (from its own settings, so its keys) and its encrypted columns."""
    store = f"services.{service}.store"
    if service not in SERVICE_APPS or importlib.util.find_spec(store) is None:
        raise LookupError(f"{service!r} is not a service with a store")
    registry: list[EncryptedColumns] = getattr(importlib.import_module(store), "ENCRYPTED_COLUMNS", [])
    if not registry:
        raise LookupError(f"{service} declares no encrypted columns")
    settings = _settings(service)
    db = service_database(service, settings)
    try:
        yield db, settings.cipher(), registry
    finally:
        await db.dispose()


def _settings(service: str) -> Any:
    return getattr(importlib.import_module(f"services.{service}.config"), f"{service.capitalize()}Settings")()


def service_cipher(service: str) -> FieldCipher:
    """The service's PII cipher, from its own settings (so its keys)."""
    if service not in SERVICE_APPS:
        raise LookupError(f"{service!r} is not a service")
    settings = _settings(service)
    if not hasattr(settings, "cipher"):
        raise LookupError(f"{service} keeps no personal data")
    return settings.cipher()  # type: ignore[no-any-return]


async def status(service: str) -> PiiRun:
    async with service_pii(service) as (db, cipher, registry):
        return PiiRun(cipher.current, await key_counts(db, registry, cipher))


async def rotate(service: str, batch_size: int, dry_run: bool, on_batch: Callable[[Reencryption], None],
                 on_counted: Callable[[PiiRun], None] = lambda run: None) -> PiiRun:
    """Counts before (handed to ``on_counted``), the re-encryption (or what it would do), and counts after."""
    async with service_pii(service) as (db, cipher, registry):
        run = PiiRun(cipher.current, await key_counts(db, registry, cipher))
        on_counted(run)
        run.report = await reencrypt(db, registry, cipher, batch_size=batch_size, dry_run=dry_run, on_batch=on_batch)
        run.after = await key_counts(db, registry, cipher)
        return run


def public_seal_keys(service: str, source: str | None = None) -> dict[str, Any]:
    """The public JWK set clients seal ``service``'s personal fields with: read from ``source`` (a JWKS file, or an
    http(s) URL such as the service's ``/keys/seal``), else derived from the service's own settings (its development
    keys in dev and test mode)."""
    if source is None:
        settings = _settings(service) if service in SERVICE_APPS else None
        if settings is None or not hasattr(settings, "seal_keys"):
            raise LookupError(f"{service!r} receives no sealed fields")
        return settings.seal_keys().public_jwks()  # type: ignore[no-any-return]
    if source.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(source, timeout=10.0)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]
    return json.loads(Path(source).read_text())  # type: ignore[no-any-return]


def seal_document(document: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    """``document`` with its personal fields sealed to the receiving service's public keys (a command type without
    personal fields comes back as it is)."""
    if str(document.get("type")) not in SEALED_COMMANDS:
        return document
    return seal_command(document, public_seal_keys(service_of(str(document["type"])), source))
