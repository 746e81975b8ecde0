"""Notifications use cases. Handling an event only records what to send (rendered, encrypted)
in the consumer's transaction; the delivery worker sends it afterwards."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from services.notifications import domain, store
from services.notifications.config import NotificationsSettings
from services.notifications.templates import render
from services.notifications.webhooks import secret_id, shown_url
from shared.contracts import disputes, escrow, notifications, onboarding, payments
from shared.contracts.notifications import Channel, Language, PartyKind
from shared.workspace import prefetch
from shared.envelope import Actor, ActorKind, Envelope
from shared.pii import UnreadableValue, check_email, check_phone, mask_email, mask_phone, mask_token
from shared.sealing import opened
from shared.unit_of_work import Rejected, Undeliverable, UnitOfWork


# What notifying of an event reads, for a whole batch at once: the order's parties, and what was recorded for it.
NOTIFY_READS = prefetch((store.OrderParties, lambda m: getattr(m.data, "order_id", None)),
                        (store.Notification, lambda m: str(m.event_id), "source_event_id"))


def check_actor(actor: Actor, party: PartyKind, party_id: str) -> None:
    """A buyer or merchant manages its own contact; an operator anyone's."""
    if actor.kind is ActorKind.OPERATOR or (actor.kind.value == party.value and actor.id == party_id):
        return
    raise Rejected("forbidden", f"only {party.value} {party_id} or an operator may change this", party_id)


def webhook_url_problem(url: str, allow_private: bool) -> str | None:
    """Production endpoints are https on a public host name (no loopback or private addresses)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the URL has no host"
    if allow_private:
        return None
    if parts.scheme != "https":
        return "webhooks must use https"
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return "localhost is not reachable from the platform" if parts.hostname == "localhost" else None
    return None if address.is_global else "the host is a private, loopback or reserved address"


class NotificationsHandlers:
    def __init__(self, settings: NotificationsSettings, allow_private_webhooks: bool) -> None:
        self.cipher = settings.cipher()
        self.contact_seal = settings.contact_seal()
        self.seal_keys = settings.seal_keys()  # what clients seal phones, e-mail addresses and webhook secrets to
        self.rotation_overlap = timedelta(hours=settings.webhook_rotation_overlap_hours)
        self.allow_private_webhooks = allow_private_webhooks or settings.webhook_allow_private_hosts
        self.wake_delivery: Callable[[], None] = lambda: None  # set by the app once the worker exists

    # -- contacts, preferences, webhooks -------------------------------------------------

    async def register_contact(self, uow: UnitOfWork, message: Envelope) -> None:
        command: notifications.RegisterContact = message.data
        check_actor(message.actor, command.party, command.party_id)
        command = opened(self.seal_keys, message)
        problems = [f"{name}: {reason}" for name, value, check in (("phone", command.phone, check_phone), ("email", command.email, check_email))
                    if value is not None and (reason := check(value))]
        if problems:
            raise Rejected("invalid_fields", "; ".join(problems), command.party_id)
        await self._save_contact(uow, command.party, command.party_id, "command", phone=command.phone,
                                 email=command.email, push_token=command.push_token, language=command.language)

    async def contact_provided(self, uow: UnitOfWork, message: Envelope) -> None:
        """Onboarding's sealed copy of an applicant's phone and e-mail: the merchant's contact."""
        event: onboarding.MerchantContactProvided = message.data
        try:
            phone, email = event.unseal(self.contact_seal)
        except UnreadableValue as exc:
            raise Undeliverable("bad_seal", f"contact of {event.merchant_id} cannot be opened with the contact-seal keys") from exc
        await self._save_contact(uow, PartyKind.MERCHANT, event.merchant_id, "onboarding", phone=phone, email=email)

    async def _save_contact(self, uow: UnitOfWork, party: PartyKind, party_id: str, source: str, *, phone: str | None = None,
                            email: str | None = None, push_token: str | None = None, language: Language | None = None) -> None:
        row = await store.load_contact(uow.session, party, party_id)
        values: dict[str, object] = {"party": party.value, "party_id": party_id}
        for name, value, mask in (("phone", phone, mask_phone), ("email", email, mask_email), ("push_token", push_token, mask_token)):
            if value:
                values[f"{name}_enc"] = self.cipher.encrypt(value, store.Contact.context(party.value, party_id, name))
                values["push_masked" if name == "push_token" else f"{name}_masked"] = mask(value)
        if language:
            values["language"] = language.value
        saved = store.save_contact(uow.session, row, values, uow.now)
        uow.emit(notifications.EVENTS, party_id, notifications.ContactRegistered(
            party=party, party_id=party_id, phone_masked=saved.phone_masked, email_masked=saved.email_masked,
            push_registered=bool(saved.push_token_enc), language=Language(saved.language), source=source))

    async def set_preference(self, uow: UnitOfWork, message: Envelope) -> None:
        command: notifications.SetPreference = message.data
        check_actor(message.actor, command.party, command.party_id)
        row = await store.load_contact(uow.session, command.party, command.party_id)
        values: dict[str, object] = {"party": command.party.value, "party_id": command.party_id}
        if command.language:
            values["language"] = command.language.value
        if command.muted_channels is not None:
            values["muted_channels"] = json.dumps(sorted({c.value for c in command.muted_channels}))
        saved = store.save_contact(uow.session, row, values, uow.now)
        uow.emit(notifications.EVENTS, command.party_id, notifications.PreferenceUpdated(
            party=command.party, party_id=command.party_id, language=Language(saved.language), muted_channels=saved.muted()))

    async def register_webhook(self, uow: UnitOfWork, message: Envelope) -> None:
        command: notifications.RegisterWebhook = message.data
        check_actor(message.actor, PartyKind.MERCHANT, command.merchant_id)
        command = opened(self.seal_keys, message)
        if not 32 <= len(command.secret) <= 200:
            raise Rejected("invalid_fields", "secret: must be 32 to 200 characters", command.merchant_id)
        problem = webhook_url_problem(command.url, self.allow_private_webhooks)
        if problem:
            raise Rejected("invalid_url", problem, command.merchant_id)
        row = await store.load_webhook(uow.session, command.merchant_id)
        context = store.WebhookEndpoint.context(command.merchant_id)
        values: dict[str, object] = {"merchant_id": command.merchant_id, "url": command.url,
                                     "secret_enc": self.cipher.encrypt(command.secret, context), "secret_id": secret_id(command.secret)}
        if row is not None and row.secret_id != values["secret_id"]:
            # Rotation: the old secret keeps signing beside the new one for the overlap.
            values.update(previous_secret_enc=row.secret_enc, previous_secret_id=row.secret_id,
                          previous_secret_until=uow.now + self.rotation_overlap)
        saved = store.save_webhook(uow.session, row, values, uow.now)
        uow.emit(notifications.EVENTS, command.merchant_id, notifications.WebhookRegistered(
            merchant_id=command.merchant_id, url=shown_url(command.url), secret_id=saved.secret_id,
            previous_secret_id=saved.previous_secret_id if saved.previous_secret_enc else None,
            previous_secret_until=saved.previous_secret_until if saved.previous_secret_enc else None))

    # -- events that matter to people ----------------------------------------------------------

    @NOTIFY_READS
    async def order_created(self, uow: UnitOfWork, message: Envelope) -> None:
        created: payments.OrderCreated = message.data
        await store.remember_parties(uow.ws, created.order_id, created.merchant_id, created.buyer_id, uow.now)
        await self.notify(uow, message)

    async def hold_created(self, uow: UnitOfWork, message: Envelope) -> None:
        """No message (the payment was announced); escrow's later events name only the order."""
        held: escrow.HoldCreated = message.data
        await store.remember_parties(uow.ws, held.order_id, held.merchant_id, held.buyer_id, uow.now)

    @NOTIFY_READS
    async def notify(self, uow: UnitOfWork, message: Envelope) -> None:
        """Record one notification per recipient and channel; a second handling finds them and adds nothing."""
        data = message.data.model_dump()
        if isinstance(message.data, onboarding.ActivationCodeIssued):
            try:
                data["activation_code"] = message.data.unseal(self.contact_seal)
            except UnreadableValue as exc:
                raise Undeliverable("bad_seal", f"activation code of {message.data.merchant_id} cannot be opened "
                                                "with the contact-seal keys") from exc
        parties = None
        if not all(f"{r.role.value}_id" in data for r in domain.RULES.get(message.type, ())):
            parties = await store.order_parties(uow.ws, data.get("order_id"))
        wanted = [(r.role, recipient) for r in domain.RULES.get(message.type, ())
                  if (recipient := domain.recipient_of(r.role, data, parties)) is not None]
        reach = await store.reach_of(uow.ws, wanted)
        planned = domain.plan(str(message.event_id), message.type, data, parties, reach)
        already = await store.existing(uow.ws, str(message.event_id)) if planned else set()
        created, rows = 0, []
        for item in planned:
            if item.notification_id in already:
                continue
            rows.append(self._notification(uow, message, data, item))
            created += item.channel is not None
        await store.record(uow.ws, rows)
        if created:
            uow.after_commit.append(self.wake_delivery)

    def _notification(self, uow: UnitOfWork, message: Envelope, data: dict[str, object], item: domain.Planned) -> dict[str, object]:
        row = store.new_notification(
            notification_id=item.notification_id, source_event_id=str(message.event_id), source_type=message.type,
            correlation_id=message.correlation_id, recipient=item.rule.role.value, recipient_id=item.recipient_id,
            channel=item.channel.value if item.channel else domain.NO_CHANNEL, language=item.language.value,
            template=domain.WEBHOOK_TEMPLATE if item.channel is Channel.WEBHOOK else item.rule.template,
            category=item.rule.category.value, state=domain.State.PENDING.value, next_attempt_at=uow.now,
            created_at=uow.now, updated_at=uow.now)
        if item.channel is None:
            row.update(state=domain.State.SKIPPED.value, next_attempt_at=None, failure_reason=item.skipped_reason)
            return row
        if item.channel is Channel.WEBHOOK:
            content = {"body": message.model_dump_json()}
        else:
            content = render(item.rule.template, item.language, data).for_channel(item.channel)
        row["content_enc"] = self.cipher.encrypt(json.dumps(content, ensure_ascii=False), store.Notification.context(item.notification_id))
        return row


# The event topics people are told about, by the service that writes them (its types' first word).
EVENT_TOPICS = {"payments": payments.EVENTS, "escrow": escrow.EVENTS, "onboarding": onboarding.EVENTS, "disputes": disputes.EVENTS}


def subscriptions(handlers: NotificationsHandlers) -> dict[str, dict[str, object]]:
    """Handlers per event topic: every event type with a rule notifies; a few also keep state."""
    by_topic: dict[str, dict[str, object]] = {c.topic: {} for c in EVENT_TOPICS.values()}
    for type_name in domain.RULES:
        by_topic[EVENT_TOPICS[type_name.split(".")[0]].topic][type_name] = handlers.notify
    by_topic[payments.EVENTS.topic][payments.OrderCreated.TYPE] = handlers.order_created
    by_topic[escrow.EVENTS.topic][escrow.HoldCreated.TYPE] = handlers.hold_created
    by_topic[onboarding.EVENTS.topic][onboarding.MerchantContactProvided.TYPE] = handlers.contact_provided
    return by_topic
