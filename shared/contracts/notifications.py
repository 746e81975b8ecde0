"""Contracts of the notifications service: contacts, preferences, merchant webhooks, and what
was delivered to whom.

Commands carry phones, e-mail addresses and webhook secrets sealed to the service's public key
(``shared.sealing``); the events the service writes carry them masked only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, model_validator

from shared import topics
from shared.contracts.catalog import TopicContract
from shared.contracts.common import ID_PATTERN, rejection_payload, sealed
from shared.envelope import ActorKind, Payload

PARTY_ID = Field(pattern=ID_PATTERN, description="The buyer's or merchant's id; also the key.", examples=["B-2001"])


class PartyKind(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"


class Channel(StrEnum):
    SMS = "sms"
    PUSH = "push"
    EMAIL = "email"
    WEBHOOK = "webhook"


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class RegisterContact(Payload):
    """Register (or update) where a buyer or merchant is told things. Fields left out keep their value.

    Merchants' contacts also arrive from onboarding (the address an application gave)."""

    TYPE: ClassVar[str] = "notifications.contact.register"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER, ActorKind.MERCHANT, ActorKind.OPERATOR,)

    party: PartyKind = Field(description="Buyer or merchant.", examples=["buyer"])
    party_id: str = PARTY_ID
    phone: str | None = sealed("Mainland mobile number, for SMS, e.g. `13812345678`.", optional=True)
    email: str | None = sealed("E-mail address, e.g. `buyer@example.com`.", optional=True)
    push_token: str | None = Field(default=None, min_length=8, max_length=256, description="The app's device token, for app push.", examples=["dvc-7f3a9c1e2b4d"])
    language: Language | None = Field(default=None, description="Preferred language (zh-CN when never given).", examples=["zh-CN"])

    @model_validator(mode="after")
    def _something_to_register(self) -> RegisterContact:
        if not (self.phone or self.email or self.push_token or self.language):
            raise ValueError("give at least one of phone, email, push_token or language")
        return self


class SetPreference(Payload):
    """Choose the language, and mute channels for optional updates. Transactional messages
    (money, security, account status) are always sent, whatever is muted."""

    TYPE: ClassVar[str] = "notifications.preference.set"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.BUYER, ActorKind.MERCHANT, ActorKind.OPERATOR,)

    party: PartyKind = Field(description="Buyer or merchant.", examples=["buyer"])
    party_id: str = PARTY_ID
    language: Language | None = Field(default=None, description="Preferred language; left out keeps it.", examples=["en"])
    muted_channels: list[Channel] | None = Field(default=None, max_length=4, description="Channels on which optional updates are not sent; left out keeps them, [] unmutes all.", examples=[["sms"]])


class RegisterWebhook(Payload):
    """A merchant registers the URL its events are POSTed to, and the secret that signs them.

    Registering a new secret rotates it: for the overlap period every delivery is signed with
    both the new and the old secret, so the merchant can switch without losing a delivery."""

    TYPE: ClassVar[str] = "notifications.webhook.register"
    ACTORS: ClassVar[tuple[ActorKind, ...]] = (ActorKind.MERCHANT, ActorKind.OPERATOR,)

    merchant_id: str = Field(pattern=ID_PATTERN, description="The merchant; also the key.", examples=["M-1001"])
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://[^\s]+$", description="Where events are POSTed (https in production).", examples=["https://shop.example.com/danbao/webhook"])
    secret: str = sealed("Signing secret chosen by the merchant (HMAC-SHA256 key, 32-200 characters); stored encrypted.")


class ContactRegistered(Payload):
    """A contact was registered or updated; shown masked."""

    TYPE: ClassVar[str] = "notifications.contact.registered"

    party: PartyKind = Field(description="Buyer or merchant.", examples=["merchant"])
    party_id: str = Field(description="The buyer's or merchant's id.", examples=["M-1001"])
    phone_masked: str | None = Field(default=None, description="Phone, masked.", examples=["138****5678"])
    email_masked: str | None = Field(default=None, description="E-mail, masked.", examples=["f***@example.com"])
    push_registered: bool = Field(description="Whether an app device token is on file.", examples=[False])
    language: Language = Field(description="Preferred language.", examples=["zh-CN"])
    source: str = Field(description="`command` or `onboarding`.", examples=["onboarding"])


class PreferenceUpdated(Payload):
    """A party's language or muted channels changed."""

    TYPE: ClassVar[str] = "notifications.preference.updated"

    party: PartyKind = Field(description="Buyer or merchant.", examples=["buyer"])
    party_id: str = Field(description="The buyer's or merchant's id.", examples=["B-2001"])
    language: Language = Field(description="Preferred language.", examples=["en"])
    muted_channels: list[Channel] = Field(description="Channels muted for optional updates.", examples=[["sms"]])


class WebhookRegistered(Payload):
    """A merchant's webhook endpoint was registered or its secret rotated."""

    TYPE: ClassVar[str] = "notifications.webhook.registered"

    merchant_id: str = Field(description="The merchant.", examples=["M-1001"])
    url: str = Field(description="The endpoint, without its query string.", examples=["https://shop.example.com/danbao/webhook"])
    secret_id: str = Field(description="Fingerprint of the signing secret (first 12 hex digits of its SHA-256), never the secret.", examples=["a1b2c3d4e5f6"])
    previous_secret_id: str | None = Field(default=None, description="The rotated-out secret's fingerprint, if it still signs.", examples=["0f9e8d7c6b5a"])
    previous_secret_until: datetime | None = Field(default=None, description="Until when the old secret also signs (UTC).", examples=["2026-11-24T08:30:00Z"])


class NotificationOutcome(Payload):
    """Fields shared by the delivery outcomes."""

    notification_id: str = Field(description="The notification: one per source event, recipient and channel.", examples=["N-5f0c2b7e9d1a4c3b8e6f0a2d"])
    source_event_id: str = Field(description="`event_id` of the event it tells about.", examples=["7f1c1f0e-2f0a-4a7e-9a57-2b0c6b1f9f10"])
    source_type: str = Field(description="Type of that event.", examples=["escrow.hold.released"])
    recipient: PartyKind = Field(description="Buyer or merchant.", examples=["buyer"])
    recipient_id: str = Field(description="The buyer's or merchant's id.", examples=["B-2001"])
    channel: Channel = Field(description="How it was sent.", examples=["sms"])
    template: str = Field(description="The template used.", examples=["hold_released.buyer"])
    language: Language = Field(description="The language it was written in.", examples=["zh-CN"])
    to_masked: str = Field(description="Where it went, masked (phone, e-mail, device, or the webhook host).", examples=["138****5678"])
    attempts: int = Field(description="Delivery attempts made.", examples=[1])


class NotificationSent(NotificationOutcome):
    """The channel accepted the message (SMS gateway, push service, mail server, or the merchant's 2xx)."""

    TYPE: ClassVar[str] = "notifications.notification.sent"


class NotificationFailed(NotificationOutcome):
    """Delivery was given up: a permanent refusal, or the retry horizon passed."""

    TYPE: ClassVar[str] = "notifications.notification.failed"

    reason: str = Field(description="`rejected` (permanent refusal), `horizon_passed`, `no_contact` or `no_address`.", examples=["horizon_passed"])
    detail: str = Field(description="The last error, without personal data.", examples=["HTTP 500"])


class WebhookDeliveryAttempted(Payload):
    """One POST to a merchant's webhook endpoint, and what came back."""

    TYPE: ClassVar[str] = "notifications.webhook.attempted"

    notification_id: str = Field(description="The webhook delivery.", examples=["N-5f0c2b7e9d1a4c3b8e6f0a2d"])
    merchant_id: str = Field(description="The merchant.", examples=["M-1001"])
    source_event_id: str = Field(description="The event POSTed.", examples=["7f1c1f0e-2f0a-4a7e-9a57-2b0c6b1f9f10"])
    attempt: int = Field(description="1 for the first POST.", examples=[1])
    status_code: int | None = Field(default=None, description="HTTP status, if the endpoint answered.", examples=[500])
    outcome: str = Field(description="`delivered`, `retrying` or `failed`.", examples=["retrying"])
    detail: str = Field(description="What happened.", examples=["HTTP 500"])
    next_attempt_at: datetime | None = Field(default=None, description="When it is tried again (UTC), if it is.", examples=["2026-11-23T08:31:00Z"])


NotificationsCommandRejected = rejection_payload("notifications")

COMMANDS = TopicContract(
    topics.commands("notifications"), "Contacts, preferences and merchant webhooks.",
    [RegisterContact, SetPreference, RegisterWebhook],
)
EVENTS = TopicContract(
    topics.events("notifications"), "Contacts registered (masked), and every notification's delivery: sent, failed, webhook attempts.",
    [ContactRegistered, PreferenceUpdated, WebhookRegistered, NotificationSent, NotificationFailed, WebhookDeliveryAttempted,
     NotificationsCommandRejected],
)
