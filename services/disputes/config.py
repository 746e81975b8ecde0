from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_SECRET_PREFIX, SECRETS_DIR, ServiceSettings


class DisputesSettings(ServiceSettings):
    """The published dispute policy (deadlines and compensation caps) and the insurer's callback secret."""

    model_config = SettingsConfigDict(env_prefix="DANBAO_DISPUTES_", extra="ignore", secrets_dir=SECRETS_DIR)

    insurer_callback_secret: str = Field(default=DEV_SECRET_PREFIX + "insurer-callback-secret",
                                         description="Secret the insurer signs claim decisions and payments with.")
    merchant_response_hours: int = Field(default=48, ge=1, le=720,
                                         description="Hours the merchant has to answer a request; silence accepts it.")
    escalation_window_days: int = Field(default=7, ge=1, le=90,
                                        description="Days the buyer may escalate after the merchant rejected; then the case closes.")
    after_sale_days: int = Field(default=15, ge=0, le=365,
                                 description="Days after the hold was released during which a case may still be opened.")
    compensation_case_cap: int = Field(default=500_000, ge=0, description="Most priority compensation per case, in fen.")
    compensation_buyer_yearly_cap: int = Field(default=2_000_000, ge=0,
                                               description="Most priority compensation per buyer per calendar year "
                                                           "(China time), in fen.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_DISPUTES_INSURER_CALLBACK_SECRET": self.insurer_callback_secret}
