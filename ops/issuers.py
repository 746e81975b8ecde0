"""Keys of the edges that sign commands, for a deployment: ``python -m ops.issuers FOLDER`` writes each
issuer's private key (``danbao_issuer_<issuer>.json``, for that edge's secret store only: ``{"issuer", "jwk"}``,
what ``DANBAO_SIGNING_KEY_FILE`` takes) and the services' trusted-issuers file (``danbao_trusted_issuers.json``,
public keys only, what ``DANBAO_TRUSTED_ISSUERS_FILE`` takes). A key that exists is kept, so running it
again adds only what is missing.

To rotate an issuer's key: add the new public key to its ``jwks`` beside the old one (services trust both),
move the edge to the new private key, and remove the old public key once its last tokens have expired
(``DANBAO_TOKEN_MAX_LIFETIME_SECONDS``, 15 minutes)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from joserfc.jwk import OKPKey

from shared.assertions import ISSUER_KINDS


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written, issuers = [], []
    for issuer, kinds in ISSUER_KINDS.items():
        private = folder / f"danbao_issuer_{issuer}.json"
        if not private.exists():
            kid = f"{issuer}-{datetime.now(timezone.utc):%Y%m%d}"
            key = OKPKey.generate_key("Ed25519", parameters={"kid": kid, "use": "sig"})
            private.write_text(json.dumps({"issuer": issuer, "jwk": key.as_dict(private=True)}))
            private.chmod(0o600)
            written.append(private)
        jwk = OKPKey.import_key(json.loads(private.read_text())["jwk"]).as_dict(private=False)
        issuers.append({"issuer": issuer, "kinds": sorted(k.value for k in kinds), "jwks": {"keys": [jwk]}})
    trusted = folder / "danbao_trusted_issuers.json"
    trusted.write_text(json.dumps({"issuers": issuers}, indent=2))
    return [*written, trusted]


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/secrets")):
        print(path)
