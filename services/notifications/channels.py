"""The channels, behind one interface: ``send(Outgoing) -> AttemptResult``.

- SMS and app push: an HTTP gateway each (POST ``<url>/messages``, bearer key); locally the
  messaging simulator stands in for both.
- E-mail: SMTP (aiosmtplib), plain text, UTF-8; the Message-ID is the notification id.
- Merchant webhooks: the event's JSON, POSTed and signed (see ``webhooks``).

An attempt's ``detail`` never carries an address or a message body: only codes and error kinds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import aiosmtplib
import httpx

from services.notifications.domain import AttemptResult, http_result
from services.notifications.webhooks import HEADER, sign
from shared.contracts.notifications import Channel


@dataclass(frozen=True)
class Outgoing:
    """One attempt's message, decrypted just for the attempt."""

    notification_id: str
    channel: Channel
    source_event_id: str
    source_type: str
    address: str  # phone, e-mail, device token or webhook URL
    content: dict[str, str]
    secrets: tuple[str, ...] = field(default=(), repr=False)  # webhook signing secrets, the current one first


class ChannelAdapter(Protocol):
    async def send(self, message: Outgoing) -> AttemptResult: ...


@dataclass
class GatewayChannel:
    """An SMS gateway or push service reached over HTTP."""

    client: httpx.AsyncClient
    url: str
    api_key: str
    address_field: str  # "to" for SMS, "device_token" for push

    async def send(self, message: Outgoing) -> AttemptResult:
        response = await self.client.post(
            f"{self.url.rstrip('/')}/messages",
            json={"message_id": message.notification_id, self.address_field: message.address, **message.content},
            headers={"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": message.notification_id})
        return http_result(response.status_code, webhook=False)


@dataclass
class EmailChannel:
    host: str
    port: int
    sender: str
    security: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0

    def message(self, outgoing: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = outgoing.address
        mail["Subject"] = outgoing.content["subject"]
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{outgoing.notification_id}@notifications.danbao>"
        mail["X-Danbao-Event-Type"] = outgoing.source_type
        mail.set_content(outgoing.content["text"])
        return mail

    async def send(self, message: Outgoing) -> AttemptResult:
        try:
            await aiosmtplib.send(
                self.message(message), hostname=self.host, port=self.port, username=self.username or None,
                password=self.password or None, use_tls=self.security == "tls", start_tls=self.security == "starttls",
                timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [r.code for r in refused.recipients]
            return AttemptResult(False, f"SMTP {codes[0] if codes else '?'} recipient refused",
                                 permanent=all(c >= 500 for c in codes), status_code=codes[0] if codes else None)
        except aiosmtplib.SMTPResponseException as error:
            return AttemptResult(False, f"SMTP {error.code}", permanent=error.code >= 500, status_code=error.code)
        return AttemptResult(True, "accepted by the mail server")


@dataclass
class WebhookChannel:
    """POSTs the event's JSON to the merchant, signed with every secret in force."""

    client: httpx.AsyncClient
    wall_clock: Callable[[], float] = time.time  # the receiver checks the timestamp against real time

    async def send(self, message: Outgoing) -> AttemptResult:
        body = message.content["body"].encode()
        response = await self.client.post(message.address, content=body, follow_redirects=False, headers={
            "Content-Type": "application/json", "User-Agent": "Danbao-Webhooks/1",
            HEADER: sign(body, message.secrets, int(self.wall_clock())),
            "Danbao-Event-Id": message.source_event_id, "Danbao-Event-Type": message.source_type,
            "Danbao-Delivery-Id": message.notification_id})
        return http_result(response.status_code, webhook=True)
