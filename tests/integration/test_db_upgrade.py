"""The runbook's upgrade procedure (docs/runbook.md, "Upgrade a release"), its commands run as written, on the
databases release c1c2458 left (tests/fixtures/release_c1c2458): the services, started first as production starts
them (no upgrade at start-up), refuse those databases and say why without exiting; the procedure upgrades them;
the services then start by themselves; no row is lost. On PostgreSQL the procedure's backup comes first, and its
restore brings a database back as it was."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ops.platform import SERVICES, LocalPlatform
from tests.conftest import BACKENDS, create_pg_database, drop_pg_database
from tests.release import OWNERS, every_row, load_release, lost_or_changed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# What the retention task prunes by the service's clock, which the release's test clock left weeks ahead
# (docs/runbook.md, Retention): processed-message ids, idempotency keys, published events, expired tokens.
PRUNED = ("inbox_message ", "idempotency_record ", "outbox_message ", "used_token ")


def runbook_block(name: str) -> str:
    """The shell commands between ``<!-- name:start -->`` and ``<!-- name:end -->`` in the runbook."""
    text = (ROOT / "docs" / "runbook.md").read_text()
    block = re.search(rf"<!-- {name}:start -->\n```bash\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    assert block, f"the runbook has no {name} block"
    return block.group(1)


def run_block(name: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", runbook_block(name)], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, f"{name}: exit {result.returncode}: {output}"
    return output


def health(platform: LocalPlatform, service: str) -> tuple[int, dict[str, Any]]:
    url = platform.processes[service].health_url
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


class _Refusing(LocalPlatform):
    """Started, the services only need to answer: on databases behind their code they are not ready."""

    def wait_ready(self, timeout: float, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for name in names or list(self.processes):
            while True:
                assert self.processes[name].running(), f"{name} exited on a database behind its code"
                try:
                    health(self, name)
                    break
                except (OSError, ValueError):
                    assert time.monotonic() < deadline, f"{name} never answered"
                    time.sleep(0.2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_runbooks_upgrade_procedure_brings_a_release_c1c2458_platform_to_this_code(backend: str, tmp_path: Path) -> None:
    data_dir, work = tmp_path / "data", tmp_path / "operator"
    data_dir.mkdir()
    work.mkdir()
    if backend == "sqlite":
        urls = {s: f"sqlite:///{data_dir / f'{s}.db'}" for s in OWNERS}  # where the services find them by default
        located: dict[str, str] = {}
    else:
        urls = {s: asyncio.run(create_pg_database()) for s in OWNERS}  # the web edge's empty: it came after the release
        located = {f"DANBAO_{s.upper()}_DATABASE_URL": url for s, url in urls.items()}
    env = {"DANBAO_MODE": "test", "DANBAO_DB_UPGRADE_AT_START": "false", "DANBAO_DB_WAIT_POLL_SECONDS": "0.5", **located}
    operator = {**os.environ, **env, "DANBAO_DATA_DIR": str(data_dir), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    platform = _Refusing(data_dir=data_dir, names=SERVICES, extra_env=env)
    try:
        for service in SERVICES:
            asyncio.run(load_release(service, urls[service]))
        before = {s: asyncio.run(every_row(urls[s])) for s in SERVICES}

        platform.start()
        time.sleep(2)  # a few of the services' polls: still refusing, still running
        for service in SERVICES:
            code, body = health(platform, service)
            assert code == 503 and body["schema"] == "refused", (service, body)
            assert [r for r in body["reasons"] if "made before migrations" in r and f"danbao db upgrade --service {service}" in r]
            assert platform.processes[service].running()

        if backend == "postgres":
            assert shutil.which("pg_dump"), "the runbook's backup needs PostgreSQL's client tools (pg_dump, pg_restore, psql)"
            run_block("db-backup", operator, work)
            assert {p.name for p in (work / "backups").iterdir()} == {f"{s}.dump" for s in OWNERS}
        output = run_block("db-upgrade", operator, work)
        assert "unversioned" in output and "payments: made before migrations, stamped 0001, then ran 0002" in output
        assert "notifications: at 0001, the code's revision" in output
        assert "web: upgraded from an empty database: 0001" in output  # the edge arrived after the release

        LocalPlatform.wait_ready(platform, 60)  # no restart: each started once its database was upgraded
        for service in SERVICES:
            code, body = health(platform, service)
            assert (code, body["schema"]) == (200, "current"), (service, body)
    finally:
        platform.stop()

    try:
        for service in SERVICES:  # the services ran on them (timers fired, seeds ran): rows may change, none may go
            problems = lost_or_changed(before[service], asyncio.run(every_row(urls[service])))
            lost = [p for p in problems if p.endswith(": lost") and not p.startswith(PRUNED)]
            assert lost == [], service
            assert [p for p in problems if p.startswith(("journal_entry ", "journal_line "))] == []  # the money's history
        if backend == "postgres":
            restored = run_block("db-restore", operator, work)
            assert "unversioned" in restored
            payments = asyncio.run(every_row(urls["payments"]))
            assert lost_or_changed(before["payments"], payments) == [] and lost_or_changed(payments, before["payments"]) == []
    finally:
        if backend == "postgres":
            for url in urls.values():
                asyncio.run(drop_pg_database(url))
