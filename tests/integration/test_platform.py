"""The local platform cleans up after itself, even when it cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.platform import LocalPlatform

pytestmark = pytest.mark.integration


def test_a_platform_that_cannot_become_ready_stops_what_it_started(tmp_path: Path) -> None:
    platform = LocalPlatform(data_dir=tmp_path, names=("psp-simulator", "no-such-service"),
                             extra_env={"DANBAO_MODE": "test"})
    with pytest.raises(RuntimeError, match="no-such-service exited"):
        platform.start(ready_timeout=60)
    assert platform.broker is not None and platform.broker.process is not None
    assert platform.broker.process.poll() is not None, "the broker is still running"
    assert all(not p.running() for p in platform.processes.values()), "a process is still running"
