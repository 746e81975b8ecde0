"""Bad input to the ``danbao`` command: one line on standard error, exit status 2, no traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import BaseModel, ValidationError

from ops.cli_errors import BadInput, one_line

ROOT = Path(__file__).resolve().parents[2]


def _danbao(*args: str, bootstrap: str = "127.0.0.1:9092") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DANBAO_KAFKA_BOOTSTRAP": bootstrap}
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    (line,) = result.stderr.splitlines()
    return line


def test_a_missing_file(tmp_path: Path) -> None:
    line = _one_line(_danbao("send", "danbao.payments.commands", str(tmp_path / "nowhere.json")))
    assert line == f"danbao: no such file: {tmp_path / 'nowhere.json'}"


def test_invalid_json(tmp_path: Path) -> None:
    bad = tmp_path / "order.json"
    bad.write_text('{"type": "payments.order.create",\n "data": {,}}')
    line = _one_line(_danbao("send", "danbao.payments.commands", str(bad)))
    assert line == f"danbao: {bad}: not valid JSON: Expecting property name enclosed in double quotes at line 2, column 11"


def test_an_unreachable_broker() -> None:
    port = _closed_port()
    line = _one_line(_danbao("send", "danbao.payments.commands", "docs/examples/create-order.json", bootstrap=f"127.0.0.1:{port}"))
    assert line.startswith(f"danbao: cannot reach the Kafka broker at 127.0.0.1:{port}")
    line = _one_line(_danbao("tail", "danbao.payments.events", "--timeout", "1", bootstrap=f"127.0.0.1:{port}"))
    assert line.startswith(f"danbao: cannot reach the Kafka broker at 127.0.0.1:{port}")


def test_a_message_its_contract_refuses(tmp_path: Path) -> None:
    document = json.loads((ROOT / "docs/examples/create-order.json").read_text())
    del document["data"]["amount"]
    path = tmp_path / "order.json"
    path.write_text(json.dumps(document))
    line = _one_line(_danbao("send", "danbao.payments.commands", str(path), "--no-sign"))
    assert line.startswith("danbao: invalid ") and "amount: Field required" in line


def test_what_is_not_bad_input_is_left_to_show_itself() -> None:
    class Shape(BaseModel):
        size: int

    with pytest.raises(ValidationError) as refused:
        Shape.model_validate({"size": "big"})
    assert one_line(refused.value) == "invalid Shape: size: Input should be a valid integer, unable to parse string as an integer"
    assert one_line(BadInput("x.json: not valid JSON")) == "x.json: not valid JSON"
    assert one_line(KafkaConnectionError("Unable to bootstrap")).startswith("cannot reach the Kafka broker at ")
    assert one_line(ZeroDivisionError("a bug")) is None
    assert one_line(KeyError("a bug")) is None
