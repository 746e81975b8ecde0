from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.payments.payouts import PayoutRule
from services.payments.risk import DEFAULT_RULES, RiskRules, RuleSetting
from services.payments.tokens import CollectionTokens
from shared.settings import SECRETS_DIR, DEV_SECRET_PREFIX, ServiceSettings


# The default schedule (README, "Payouts"): larger amounts get more time for the bank's checks; corporate
# accounts take large amounts faster than cards. Amounts in fen.
DEFAULT_PAYOUT_SCHEDULE = (
    PayoutRule(channel="personal_card", max_amount=5_000_000, business_days=1),    # a card, up to ¥50,000: T+1
    PayoutRule(channel="personal_card", business_days=2),                          # a card, more: T+2
    PayoutRule(channel="corporate", max_amount=100_000_000, business_days=1),      # 对公, up to ¥1,000,000: T+1
    PayoutRule(channel="corporate", business_days=3),                              # 对公, more: T+3
)


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DANBAO_PAYMENTS_", extra="ignore", secrets_dir=SECRETS_DIR)

    psp_callback_secret: str = Field(default=DEV_SECRET_PREFIX + "psp-callback-secret", description="Shared secret the provider signs callbacks with.")
    unpaid_order_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60, description="Unpaid orders close after this long.")
    pay_base_url: str = Field(default="https://pay.danbao.example/c", description="The cashier page: a collection code's URL "
                              "(what its QR code encodes) is this, a slash and the code's token.")
    payment_token_secret: str = Field(default=DEV_SECRET_PREFIX + "payment-token-secret", description="Signs collection codes.")
    payment_token_minutes: int = Field(default=15, ge=1, le=24 * 60, description="How long an order's collection code works "
                                       "unless the merchant says otherwise, and how long a charge waits for the provider.")
    shop_code_days: int = Field(default=365, ge=1, le=366, description="How long a shop's standing QR code works unless "
                                "the merchant says otherwise.")
    no_guarantee_industries: str = Field(default="", description="Industries (comma separated) whose customers cannot "
                                         "choose 一键担保 with a collection code; empty: every industry may.")

    cancel_window_hours: int = Field(default=24, ge=1, description="Window in which a buyer's cancellations are counted.")
    cancel_warn_count: int = Field(default=5, ge=1, description="This many cancellations in the window raise a warning.")
    cancel_restrict_count: int = Field(default=8, ge=1, description="This many restrict the buyer's new orders.")
    cancel_restrict_hours: int = Field(default=24, ge=1, description="For how long.")
    dev_merchants: str = Field(
        default="M-1001:retail,M-1002:food,M-1003:digital_goods,M-CLOSED-1:retail,M-DEMO-SHOES:retail,"
                "M-DEMO-HALF-COATS:retail,M-DEMO-SHOP:retail,M-DEMO-PHONES:digital_goods",
        description="Dev/test mode only: active merchants (id:industry, comma separated) until onboarding activates real ones.")

    def dev_merchant_seeds(self) -> dict[str, str]:
        pairs = (item.split(":", 1) for item in self.dev_merchants.split(",") if item.strip())
        return {merchant.strip(): industry.strip() for merchant, industry in pairs}

    risk_rules: dict[str, RuleSetting] = Field(default_factory=lambda: dict(DEFAULT_RULES), description=(
        "The risk rule table (JSON: rule -> window_minutes, threshold, outcome review|block, enabled, floor); "
        "see README: Risk controls. A rule left out keeps its default."))
    risk_merchant_limits: str = Field(default="", description="Merchants whose merchant-level risk limits are raised, "
                                      "`merchant:multiple` comma separated (e.g. `M-1001:1000`).")

    def risk(self) -> RiskRules:
        return RiskRules({**DEFAULT_RULES, **self.risk_rules})

    dev_risk_merchant_limits: str = Field(default="M-1001:1000", description="Dev/test mode only: raised limits as "
                                          "`risk_merchant_limits` has them (M-1001 carries the bench, chaos and burst runs).")

    @staticmethod
    def risk_raises(text: str) -> dict[str, int]:
        pairs = (item.split(":", 1) for item in text.split(",") if ":" in item)
        return {merchant.strip(): max(1, int(multiple)) for merchant, multiple in pairs}

    bank_callback_secret: str = Field(default=DEV_SECRET_PREFIX + "bank-callback-secret", description="Shared secret the bank signs transfer outcomes with.")
    payout_schedule: list[PayoutRule] = Field(
        default_factory=lambda: list(DEFAULT_PAYOUT_SCHEDULE),
        description="When payouts go out, T+1 to T+3 business days (seed 02: 1-3 个工作日): a JSON list of rules "
                    '{"channel": "personal_card"|"corporate" (absent: any), "max_amount": fen (inclusive; absent: any), '
                    '"business_days": 1-3}; the first rule matching the account kind and amount wins, T+1 if none does.')

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_PAYMENTS_PSP_CALLBACK_SECRET": self.psp_callback_secret,
                "DANBAO_PAYMENTS_BANK_CALLBACK_SECRET": self.bank_callback_secret,
                "DANBAO_PAYMENTS_PAYMENT_TOKEN_SECRET": self.payment_token_secret}

    def tokens(self) -> CollectionTokens:
        return CollectionTokens(self.payment_token_secret, self.pay_base_url)

    @property
    def provider_wait(self) -> timedelta:
        return timedelta(minutes=self.payment_token_minutes)

    def guarantee_allowed(self, industry: str) -> bool:
        return industry not in {item.strip() for item in self.no_guarantee_industries.split(",") if item.strip()}
