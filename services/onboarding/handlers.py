"""Onboarding use cases: load, decide with the domain, save (PII encrypted) + outbox."""

from __future__ import annotations

import secrets

from services.onboarding import domain, store
from services.onboarding.config import OnboardingSettings
from shared import timers
from shared.contracts import onboarding, registry
from shared.contracts.settlement import seal_account
from shared.pii import mask_bank_account
from shared.timers import DurableTimer
from shared.envelope import Envelope
from shared.sealing import opened
from shared.unit_of_work import Undeliverable, UnitOfWork


REGISTRY_WAIT = "registry-wait"
REVIEW_SLA = "review-sla"


def new_activation_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class OnboardingHandlers:
    def __init__(self, settings: OnboardingSettings) -> None:
        self.settings = settings
        self.cipher = settings.cipher()
        self.contact_seal = settings.contact_seal()
        self.seal_keys = settings.seal_keys()
        self.bank_account_seal = settings.bank_account_seal()

    def _new_code(self, merchant_id: str) -> domain.NewCode:
        code = new_activation_code()
        return domain.NewCode(code, onboarding.ActivationCodeIssued.seal(merchant_id, code, self.contact_seal))

    async def apply(self, uow: UnitOfWork, message: Envelope) -> None:
        # Sealed by the applicant to onboarding's key: opened here, checked by the domain, stored encrypted.
        command: onboarding.ApplyForMerchant = opened(self.seal_keys, message)
        row, application = await store.load(uow.session, command.merchant_id)
        taken = await store.credit_code_taken(uow.session, command.credit_code, command.merchant_id)
        decision = domain.apply(application, command, message.actor, uow.now, taken)
        await self._save(uow, row, decision, command.merchant_id, submitted=command)

    async def registry_answered(self, uow: UnitOfWork, message: Envelope) -> None:
        found: registry.CompanyFound = message.data
        if not found.signature_valid(self.settings.registry_callback_secret):
            raise Undeliverable("bad_signature", f"registry answer about {found.merchant_id} is not signed by the registry")
        row, application = await store.load(uow.session, found.merchant_id)
        await self._save(uow, row, domain.registry_answered(application, found, uow.now, self._new_code(found.merchant_id)), found.merchant_id)

    async def decide_review(self, uow: UnitOfWork, message: Envelope) -> None:
        command: onboarding.DecideReview = message.data
        row, application = await store.load(uow.session, command.merchant_id)
        decision = domain.decide_review(application, command, message.actor, uow.now, self._new_code(command.merchant_id))
        await self._save(uow, row, decision, command.merchant_id)

    async def documents_submitted(self, uow: UnitOfWork, message: Envelope) -> None:
        command: onboarding.SubmitDocuments = message.data
        row, application = await store.load(uow.session, command.merchant_id)
        await self._save(uow, row, domain.documents_submitted(application, command, message.actor, uow.now), command.merchant_id)

    async def activate(self, uow: UnitOfWork, message: Envelope) -> None:
        command: onboarding.ActivateMerchant = message.data
        row, application = await store.load(uow.session, command.merchant_id)
        account = self._verified_account(row, application) if row is not None and application is not None else None
        await self._save(uow, row, domain.activate(application, command, message.actor, uow.now, account), command.merchant_id)

    def _verified_account(self, row: store.ApplicationRow, application: domain.Application) -> domain.VerifiedAccount:
        """The applicant's account, announced at activation: a new opaque reference, masked, and sealed for the bank."""
        ref = application.settlement_account_ref or f"SA-{secrets.token_hex(8)}"
        number = store.settlement_account(row, self.cipher)
        return domain.VerifiedAccount(ref=ref, masked=mask_bank_account(number), kind=application.settlement_account_kind,
                                      sealed=seal_account(number, application.merchant_id, ref, self.bank_account_seal))

    async def reissue(self, uow: UnitOfWork, message: Envelope) -> None:
        command: onboarding.ReissueActivationCode = message.data
        row, application = await store.load(uow.session, command.merchant_id)
        decision = domain.reissue(application, command, message.actor, uow.now, self._new_code(command.merchant_id))
        await self._save(uow, row, decision, command.merchant_id)

    async def suspend(self, uow: UnitOfWork, message: Envelope) -> None:
        command: onboarding.SuspendMerchant = message.data
        row, application = await store.load(uow.session, command.merchant_id)
        await self._save(uow, row, domain.suspend(application, command.merchant_id, command.reason, message.actor), command.merchant_id)

    async def reinstate(self, uow: UnitOfWork, message: Envelope) -> None:
        command: onboarding.ReinstateMerchant = message.data
        row, application = await store.load(uow.session, command.merchant_id)
        await self._save(uow, row, domain.reinstate(application, command.merchant_id, command.reason, message.actor), command.merchant_id)

    async def registry_deadline(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        row, application = await store.load(uow.session, timer.aggregate_id)
        await self._save(uow, row, domain.registry_silent(application, uow.now), timer.aggregate_id)

    async def review_deadline(self, uow: UnitOfWork, timer: DurableTimer) -> None:
        row, application = await store.load(uow.session, timer.aggregate_id)
        await self._save(uow, row, domain.review_overdue(application), timer.aggregate_id)

    async def _save(self, uow: UnitOfWork, row: store.ApplicationRow | None, decision: domain.Decision, merchant_id: str,
                    submitted: onboarding.ApplyForMerchant | None = None) -> None:
        if not decision.events or decision.application is None:
            return
        store.save(uow.session, row, decision.application, uow.now, submitted, self.cipher)
        application = decision.application
        if any(isinstance(e, registry.LookupCompany) for e in decision.events):
            await timers.schedule(uow, REGISTRY_WAIT, merchant_id, uow.now + domain.REGISTRY_WAIT)
        elif application.status is not domain.Status.CHECKING:
            await timers.cancel(uow, REGISTRY_WAIT, merchant_id)
        if any(isinstance(e, onboarding.ReviewRequired) for e in decision.events):
            assert application.review_due_at is not None
            await timers.schedule(uow, REVIEW_SLA, merchant_id, application.review_due_at)
        elif application.status not in (domain.Status.MANUAL_REVIEW,):
            await timers.cancel(uow, REVIEW_SLA, merchant_id)
        for event in decision.events:
            if submitted is not None and isinstance(event, onboarding.ApplicationReceived):
                # First on the merchant's partition, so notifications knows the address before
                # anything is sent to it (the receipt of the application, the activation code).
                uow.emit(onboarding.EVENTS, merchant_id, onboarding.MerchantContactProvided.seal(
                    merchant_id, submitted.phone, submitted.email, self.contact_seal))
            topic = registry.REQUESTS if isinstance(event, registry.LookupCompany) else onboarding.EVENTS
            uow.emit(topic, merchant_id, event)
