"""The messaging simulator: stands in for the SMS gateway, the app push service and a mailbox,
and records what it was given so people and tests can read it.

| path | does |
|---|---|
| ``POST /sms/messages`` | an SMS gateway: ``{message_id, to, text}``, bearer key; a number ending ``0000`` is refused (400, not a real number) |
| ``POST /push/messages`` | a push service: ``{message_id, device_token, title, text}``, bearer key; a token starting ``dvc-gone`` is refused (410, app uninstalled) |
| ``GET /sms/messages``, ``/push/messages``, ``/mail/messages`` | what was received, oldest first |
| SMTP on ``DANBAO_SIM_MESSAGING_SMTP_PORT`` | a mail server that accepts every message (0: none) |
| ``GET /health/live``, ``/health/ready``, ``/metrics`` | health, and ``danbao_messaging_received{kind}``: messages held (Prometheus) |

It keeps no database and never forwards anything, as a sandbox of the real services would.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from datetime import datetime, timezone
from email import message_from_bytes, policy
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, Gauge, make_asgi_app
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared import logs
from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, PlatformSettings, ServiceSettings

DEFAULT_PORT = 8113
log = logging.getLogger("danbao.messaging-simulator")


class MessagingSimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_SIM_MESSAGING_", extra="ignore", secrets_dir=SECRETS_DIR)

    smtp_port: int = Field(default=8025, ge=0, le=65535, description="Where the mailbox listens for SMTP; 0: no mailbox.")
    sms_api_key: str = Field(default=DEV_SECRET_PREFIX + "sms-api-key")
    push_api_key: str = Field(default=DEV_SECRET_PREFIX + "push-api-key")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_SIM_MESSAGING_SMS_API_KEY": self.sms_api_key, "DANBAO_SIM_MESSAGING_PUSH_API_KEY": self.push_api_key}


def refusal(kind: str, message: dict[str, Any]) -> int | None:
    """The status a real gateway would answer for a bad address, or None to accept."""
    if kind == "sms" and str(message.get("to", "")).endswith("0000"):
        return 400
    if kind == "push" and str(message.get("device_token", "")).startswith("dvc-gone"):
        return 410
    return None


class Mailbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self, received: list[dict[str, Any]]) -> None:
        self.received = received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        mail = message_from_bytes(envelope.content, policy=policy.default)
        body = mail.get_body(preferencelist=("plain",))
        self.received.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), "subject": str(mail["Subject"]),
                              "message_id": str(mail["Message-ID"]), "text": body.get_content() if body else "",
                              "received_at": datetime.now(timezone.utc).isoformat()})
        return "250 Message accepted for delivery"


class MessagingSimulator:
    """A plain ASGI app (no framework): the gateways, the listings, health."""

    def __init__(self, settings: MessagingSimulatorSettings, host: str) -> None:
        self.settings = settings
        self.host = host
        self.received: dict[str, list[dict[str, Any]]] = {"sms": [], "push": [], "mail": []}
        self.pid = os.getpid()
        self.keys = {"sms": settings.sms_api_key, "push": settings.push_api_key}
        self._smtp: asyncio.AbstractServer | None = None
        self.registry = CollectorRegistry()
        self._counted = Gauge("danbao_messaging_received", "Messages the messaging simulator holds, per kind (sms, push, mail)",
                              ["kind"], registry=self.registry)
        self._metrics = make_asgi_app(registry=self.registry)

    async def start_mailbox(self) -> None:
        if self.settings.smtp_port:
            from aiosmtpd.smtp import SMTP  # the local extra: not needed when the mailbox is off

            loop = asyncio.get_running_loop()
            self._smtp = await loop.create_server(lambda: SMTP(Mailbox(self.received["mail"]), hostname="messaging-simulator"),
                                                  self.host, self.settings.smtp_port)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        method, path = scope["method"], scope["path"].rstrip("/")
        kind = path.split("/")[1] if path.count("/") == 2 and path.endswith("/messages") else ""
        if path in ("/health/live", "/health/ready"):
            await _respond(send, 200, {"status": "ready", "service": "messaging-simulator", "pid": self.pid, "reasons": []})
        elif method == "GET" and path == "/metrics":
            for kind, messages in self.received.items():
                self._counted.labels(kind).set(len(messages))
            await self._metrics(scope, receive, send)
        elif method == "GET" and kind in self.received:
            await _respond(send, 200, self.received[kind])
        elif method == "POST" and kind in self.keys:
            await self._accept(kind, scope, receive, send)
        else:
            await _respond(send, 404, {"error": "not found"})

    async def _accept(self, kind: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if not hmac.compare_digest(headers.get("authorization", ""), f"Bearer {self.keys[kind]}"):
            await _respond(send, 401, {"error": "bad api key"})
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        try:
            message = json.loads(body)
        except ValueError:
            await _respond(send, 400, {"error": "not JSON"})
            return
        status = refusal(kind, message)
        if status:
            await _respond(send, status, {"error": "refused"})
            return
        self.received[kind].append({**message, "received_at": datetime.now(timezone.utc).isoformat()})
        await _respond(send, 202, {"accepted": message.get("message_id")})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await self.start_mailbox()
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                if self._smtp is not None:
                    self._smtp.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send: Any, status: int, body: Any) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def run() -> None:
    settings, platform = MessagingSimulatorSettings(), PlatformSettings()
    logs.configure("messaging-simulator", platform.log_level)
    app = MessagingSimulator(settings, platform.http_host)
    port = settings.http_port or platform.http_port or DEFAULT_PORT
    uvicorn.run(app, host=platform.http_host, port=port, log_level="warning", lifespan="on", log_config=None)
