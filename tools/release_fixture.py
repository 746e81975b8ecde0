"""Make tests/fixtures/release_c1c2458/: each service's database as release c1c2458 leaves it after some use.

Run with *that release's* code and dependencies, not this checkout's (its models made the schema):

    git worktree add /tmp/danbao-c1c2458 c1c2458
    python3 -m venv /tmp/danbao-c1c2458/.venv
    /tmp/danbao-c1c2458/.venv/bin/pip install -c /tmp/danbao-c1c2458/constraints.txt -e '/tmp/danbao-c1c2458[dev]'
    cd /tmp/danbao-c1c2458 && .venv/bin/python <this checkout>/tools/release_fixture.py sqlite <this checkout>/tests/fixtures/release_c1c2458
    ... and again with `postgres` (DANBAO_TEST_POSTGRES_URL set; pg_dump on PATH)

It starts that release's platform (Tansu, the five services, the simulators; test mode, free ports), replays the
four seed dispute cases (`danbao demo disputes`, which moves the test clock weeks ahead), sends the README's
"Try it" commands, leaves an order shipped and not yet confirmed (O-OLD-0002), dead-letters a broken command,
stops everything, and writes one SQL file per service, gzipped: SQLite's `.dump`, or PostgreSQL's
`pg_dump --inserts` (no owners, no privileges, psql's backslash lines dropped so any client can run it).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SERVICES = ("onboarding", "payments", "escrow", "disputes", "notifications")
EXAMPLES = [  # (topic, example file) as the README's "Try it" sends them
    ("danbao.notifications.commands", "register-contact.json"),
    ("danbao.notifications.commands", "register-webhook.json"),
    ("danbao.payments.commands", "create-order.json"),
    ("danbao.payments.commands", "pay-order-qr.json"),
    ("danbao.escrow.commands", "record-shipment.json"),
    ("danbao.escrow.commands", "confirm-receipt.json"),
    ("danbao.payments.commands", "request-payout.json"),
    ("danbao.onboarding.commands", "apply-for-merchant.json"),
    ("danbao.disputes.commands", "open-case.json"),
    ("danbao.disputes.commands", "respond-to-case.json"),
]
SHIPPED_ORDER = "O-OLD-0002"  # paid and shipped, not confirmed: the test confirms it on today's code


def danbao(*args: str, env: dict[str, str], stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "ops.cli", *args], env=env, input=stdin, text=True, check=True,
                   stdout=subprocess.DEVNULL)


def _example(name: str, **changes: str) -> str:
    document = json.loads(Path("docs/examples", name).read_text())
    document["event_id"] = str(uuid.uuid4())  # another command, not a copy of the first
    text = json.dumps(document, ensure_ascii=False)
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def drive(bootstrap: str, env: dict[str, str]) -> None:
    env = {**env, "DANBAO_KAFKA_BOOTSTRAP": bootstrap}
    danbao("demo", "disputes", env=env)  # first: it moves the test clock forward by weeks
    for topic, name in EXAMPLES:
        danbao("send", topic, f"docs/examples/{name}", env=env)
        time.sleep(1.5)
    for topic, name in EXAMPLES[2:5]:  # a second order: created, paid, shipped; never confirmed
        danbao("send", topic, "-", env=env, stdin=_example(name, **{"O-DEMO-0001": SHIPPED_ORDER}))
        time.sleep(1.5)
    danbao("send", "danbao.payments.commands", "-", "--no-check", "--no-sign", env=env, stdin='{"not": "an envelope"}')
    time.sleep(3)


def _write(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode(), mtime=0))


def dump_sqlite(data_dir: Path, out: Path) -> None:
    for service in SERVICES:
        connection = sqlite3.connect(data_dir / f"{service}.db")
        try:
            _write(out / f"{service}.sql.gz", "\n".join(connection.iterdump()) + "\n")
        finally:
            connection.close()


def dump_postgres(urls: dict[str, str], out: Path) -> None:
    for service, url in urls.items():
        text = subprocess.run(["pg_dump", "--inserts", "--no-owner", "--no-privileges", "--dbname", url],
                              capture_output=True, text=True, check=True).stdout
        lines = [line for line in text.splitlines() if not line.startswith("\\") and not re.match(r"SET transaction_timeout", line)]
        _write(out / f"{service}.sql.gz", "\n".join(lines) + "\n")


async def _database(name: str, drop: bool = False) -> str:
    """A fresh database beside DANBAO_TEST_POSTGRES_URL's (or, with ``drop``, none)."""
    import asyncpg

    server = os.environ["DANBAO_TEST_POSTGRES_URL"]
    connection = await asyncpg.connect(server)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server.rsplit("/", 1)[0] + f"/{name}"


def main(backend: str, out: Path) -> None:
    from ops.platform import LocalPlatform

    out = out / backend
    out.mkdir(parents=True, exist_ok=True)
    env = {"DANBAO_MODE": "test", "DANBAO_LOG_LEVEL": "INFO"}
    urls: dict[str, str] = {}
    if backend == "postgres":
        for service in SERVICES:
            urls[service] = asyncio.run(_database(f"danbao_release_fixture_{service}"))
            env[f"DANBAO_{service.upper()}_DATABASE_URL"] = urls[service]
    with tempfile.TemporaryDirectory() as scratch:
        platform = LocalPlatform(data_dir=Path(scratch), extra_env=env)
        try:
            platform.start(ready_timeout=120)
            assert platform.broker is not None
            drive(platform.broker.bootstrap, {**os.environ, **env})
        finally:
            platform.stop()
        if backend == "sqlite":
            dump_sqlite(Path(scratch), out)
        else:
            dump_postgres(urls, out)
            for service in SERVICES:
                asyncio.run(_database(f"danbao_release_fixture_{service}", drop=True))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
