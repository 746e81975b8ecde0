"""The web edge over its own database, without a broker: its pages (a Starlette test client) and its read models
fed with events through the consumer path, as Kafka would deliver them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from services.web import cashier
from services.web.app import WebEdge, build
from services.web.config import WebSettings
from shared.assertions import Verifier, development_issuers
from shared.envelope import Actor, Envelope, Payload
from shared.messaging import OutboxMessage
from shared.settings import PlatformSettings


class Web:
    """The edge's pages (a test client) and a way to feed it the platform's events."""

    def __init__(self, edge: WebEdge, client: TestClient) -> None:
        self.edge, self.client, self.offset = edge, client, 0
        self.sms: list[tuple[str, str]] = []

    def feed(self, topic: str, producer: str, *payloads: Payload) -> None:
        records = []
        for payload in payloads:
            self.offset += 1
            envelope = Envelope(type=payload.TYPE, producer=producer, actor=Actor.system(producer), data=payload)  # type: ignore[attr-defined]
            records.append(SimpleNamespace(topic=topic, partition=0, offset=self.offset, key=b"k", value=envelope.to_json(),
                                           headers=[("type", payload.TYPE.encode())], timestamp=int(time.time() * 1000)))  # type: ignore[attr-defined]
        self.client.portal.call(self.edge.runtime.consumer.consume, records)  # type: ignore[union-attr]

    def outbox(self, type_: str) -> list[dict[str, Any]]:
        async def read() -> list[Any]:
            async with self.edge.runtime.db.transaction() as session:
                return list((await session.exec(select(OutboxMessage).where(OutboxMessage.type == type_))).all())
        return [json.loads(row.payload) for row in self.client.portal.call(read)]  # type: ignore[union-attr]

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return found.group(1)


def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: WebSettings | None = None) -> Iterator[Web]:
    """The edge in test mode on ``tmp_path``; sign-in codes go to ``Web.sms`` instead of an SMS gateway."""
    edge = build(settings or WebSettings(), PlatformSettings(data_dir=tmp_path, mode="test"))
    with TestClient(edge.app(start_runtime=False), base_url="http://testserver") as client:
        harness = Web(edge, client)

        async def fake_sms(state: Any, challenge: str, phone: str, code: str) -> bool:
            harness.sms.append((phone, code))
            return True

        monkeypatch.setattr(cashier, "_send_sms", fake_sms)
        yield harness




@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    yield from running(tmp_path, monkeypatch)


def verify(command: dict[str, Any]) -> Any:
    """The claims of a command's token, checked as a service checks them (the development issuers)."""
    return Verifier(development_issuers()).verify(command["token"], command)
