"""Onboarding: applications, automatic checks (formats, duplicates, the credit registry, risk),
review, activation, suspension."""

from __future__ import annotations

from services.onboarding.config import OnboardingSettings
from services.onboarding.handlers import REGISTRY_WAIT, REVIEW_SLA, OnboardingHandlers
from services.onboarding.store import TABLES, encrypt_legal_rep_names
from shared.contracts import onboarding, registry
from shared.runtime import ServiceDefinition, ServiceRuntime, Subscription
from shared.settings import PlatformSettings

DEFAULT_PORT = 8101


def build(settings: OnboardingSettings | None = None, platform: PlatformSettings | None = None) -> ServiceRuntime:
    settings = settings or OnboardingSettings()
    handlers = OnboardingHandlers(settings)
    definition = ServiceDefinition(
        name="onboarding",
        default_port=DEFAULT_PORT,
        events=onboarding.EVENTS,
        tables=TABLES,
        subscriptions=[
            Subscription(onboarding.COMMANDS, {
                onboarding.ApplyForMerchant.TYPE: handlers.apply,
                onboarding.DecideReview.TYPE: handlers.decide_review,
                onboarding.SubmitDocuments.TYPE: handlers.documents_submitted,
                onboarding.ActivateMerchant.TYPE: handlers.activate,
                onboarding.ReissueActivationCode.TYPE: handlers.reissue,
                onboarding.SuspendMerchant.TYPE: handlers.suspend,
                onboarding.ReinstateMerchant.TYPE: handlers.reinstate,
            }, personal_data=True),
            Subscription(registry.RESULTS, {registry.CompanyFound.TYPE: handlers.registry_answered}, group_suffix="registry"),
        ],
        publishes=[registry.REQUESTS],
        timers={REGISTRY_WAIT: handlers.registry_deadline, REVIEW_SLA: handlers.review_deadline},
        pii_cipher=settings.cipher(),
        seed=lambda db, platform, now: encrypt_legal_rep_names(db, settings.cipher()),
        public_seal_keys=settings.seal_keys().public_jwks(),
    )
    return ServiceRuntime(definition, settings, platform)
