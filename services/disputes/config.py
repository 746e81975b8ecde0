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
    counter_offer_answer_hours: int = Field(default=72, ge=1, le=720,
                                            description="Hours the buyer has to answer a counter-offer; silence accepts "
                                                        "the counter-offer.")
    escalation_window_days: int = Field(default=7, ge=1, le=90,
                                        description="Days the buyer may escalate after the merchant rejected; then the case closes.")
    arbitration_business_days: int = Field(default=5, ge=1, le=60,
                                           description="Business days an arbitrator has to rule on an escalated case "
                                                       "(until 18:00 China time); then it goes to the supervisors' queue.")
    default_ruling_business_days: int = Field(default=2, ge=1, le=30,
                                              description="Further business days the supervisors have; then the rule "
                                                          "table's default ruling applies, made by the system.")
    return_shipment_days: int = Field(default=7, ge=1, le=60,
                                      description="Days the buyer has to send the goods back after a ruling that refunds "
                                                  "on return; then the case closes without a refund.")
    return_receipt_days: int = Field(default=10, ge=1, le=60,
                                     description="Days the merchant has to confirm the returned goods arrived; then they "
                                                 "count as received and the refund is ordered.")
    after_sale_days: int = Field(default=15, ge=0, le=365,
                                 description="Days after the hold was released during which a case may still be opened.")
    compensation_case_cap: int = Field(default=500_000, ge=0, description="Most priority compensation per case, in fen.")
    compensation_buyer_yearly_cap: int = Field(default=2_000_000, ge=0,
                                               description="Most priority compensation per buyer per calendar year "
                                                           "(China time), in fen.")

    def secrets(self) -> dict[str, str]:
        return {"DANBAO_DISPUTES_INSURER_CALLBACK_SECRET": self.insurer_callback_secret}
