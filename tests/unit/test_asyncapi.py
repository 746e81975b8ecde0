"""The AsyncAPI documents in docs/asyncapi are current, and valid for the AsyncAPI project's own parser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ops.docs import asyncapi_documents

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "asyncapi"
TOOL = ROOT / "tools" / "asyncapi"


def test_the_committed_documents_match_the_code() -> None:
    for service, text in asyncapi_documents().items():
        committed = DOCS / f"{service}.json"
        assert committed.exists(), f"run: danbao docs asyncapi ({committed} is missing)"
        assert committed.read_text() == text, f"{committed} is stale: run `danbao docs asyncapi`"


def test_each_document_describes_its_topics_and_message_types() -> None:
    payments = (DOCS / "payments.json").read_text()
    for needle in ("danbao.payments.commands", "danbao.psp.callbacks", "danbao.payments.events",
                   "danbao.payments.dlq", "payments.order.create", "payments.payment.succeeded", "psp.charge.requested"):
        assert needle in payments


def test_the_documents_pass_the_asyncapi_parser() -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "node and npm are needed (.ci/run installs them)"
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=TOOL, check=True, timeout=300)
    result = subprocess.run([node, "validate.mjs", *sorted(str(p) for p in DOCS.glob("*.json"))],
                            cwd=TOOL, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("valid AsyncAPI 3.0.0") == 5


def test_each_channel_lists_only_its_topic_s_messages_each_with_an_example_that_its_contract_accepts() -> None:
    import json

    from shared.contracts import CONTRACTS

    for path in sorted(DOCS.glob("*.json")):
        spec = json.loads(path.read_text())
        assert {"development", "production"} <= set(spec["servers"])
        assert spec["servers"]["production"]["protocol"] == "kafka-secure"
        for channel in spec["channels"].values():
            contract = CONTRACTS.get(channel["address"])
            if contract is None:
                continue
            messages = [spec["components"]["messages"][m["$ref"].rsplit("/", 1)[-1]] for m in channel["messages"].values()]
            assert sorted(m["name"] for m in messages) == sorted(contract.payloads), channel["address"]
            for message in messages:
                assert message["correlationId"]["location"] == "$message.payload#/correlation_id"
                assert message["bindings"]["kafka"]["key"]["type"] == "string"
                (example,) = message["examples"]
                assert contract.parse(example["payload"]).type == message["name"]  # a whole, valid envelope
