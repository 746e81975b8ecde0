"""The channels, behind one interface: ``send(Outgoing) -> AttemptResult``.

- SMS and app push: an HTTP gateway each (POST ``<url>/messages``, bearer key); locally the
  messaging simulator stands in for both.
- E-mail: SMTP (aiosmtplib), plain text, UTF-8; the Message-ID is the notification id.
- Merchant webhooks: the event's JSON, POSTed and signed (see ``webhooks``).

An attempt's ``detail`` never carries an address or a message body: only codes and error kinds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
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


Resolve = Callable[[str, int], Awaitable[list[str]]]  # host, port -> its addresses


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class PinnedTarget:
    """Where a webhook is POSTed: the checked address itself, with the host name kept for the
    Host header and for TLS (SNI and certificate check)."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


async def pinned_target(url: str, resolver: Resolve) -> PinnedTarget | str:
    """Resolve the webhook's host once and refuse it unless every address is public; returns the
    request to make to that address, or why not. Connecting to the checked address (not the name
    again) leaves no window for the name to point elsewhere between the check and the connection."""
    parts = httpx.URL(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(parts.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolver(parts.host, port)
        except OSError as exc:
            return f"the host name does not resolve ({type(exc).__name__})"
    if not addresses:
        return "the host name does not resolve"
    if not all(ipaddress.ip_address(a.split("%", 1)[0]).is_global for a in addresses):
        return "the host resolves to a private, loopback or reserved address"
    address = str(ipaddress.ip_address(addresses[0].split("%", 1)[0]))
    host_header = parts.host if parts.port is None else f"{parts.host}:{parts.port}"
    extensions = {"sni_hostname": parts.host} if parts.scheme == "https" and literal is None else {}
    return PinnedTarget(str(parts.copy_with(host=address)), {"Host": host_header}, extensions)


@dataclass
class WebhookChannel:
    """POSTs the event's JSON to the merchant, signed with every secret in force.

    Unless private hosts are allowed (dev and test mode, or the setting), the host is resolved
    at every attempt and refused when any of its addresses is private, loopback or reserved: a
    name registered while public can be pointed inside the platform's network later."""

    client: httpx.AsyncClient
    wall_clock: Callable[[], float] = time.time  # the receiver checks the timestamp against real time
    allow_private: bool = False
    resolver: Resolve = resolve

    async def send(self, message: Outgoing) -> AttemptResult:
        body = message.content["body"].encode()
        headers = {
            "Content-Type": "application/json", "User-Agent": "Danbao-Webhooks/1",
            HEADER: sign(body, message.secrets, int(self.wall_clock())),
            "Danbao-Event-Id": message.source_event_id, "Danbao-Event-Type": message.source_type,
            "Danbao-Delivery-Id": message.notification_id}
        url, extensions = message.address, {}
        if not self.allow_private:
            target = await pinned_target(message.address, self.resolver)
            if isinstance(target, str):
                return AttemptResult(False, f"refused: {target}")
            url, extensions = target.url, target.extensions
            headers.update(target.headers)
        response = await self.client.post(url, content=body, follow_redirects=False, headers=headers,
                                          extensions=extensions)
        return http_result(response.status_code, webhook=True)
