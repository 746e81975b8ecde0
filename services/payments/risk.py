"""The published risk rules, pure: what each measures, its limit, and what happens when it is passed.

The figures come from payments' own records (``risk_store``: what each buyer, device and merchant did and when);
the rule table is a setting (``DANBAO_PAYMENTS_RISK_RULES``, JSON: per rule ``window_minutes``, ``threshold``,
``outcome`` and ``enabled``). Merchant-level limits are multiplied for merchants the risk team has raised
(``DANBAO_PAYMENTS_RISK_MERCHANT_LIMITS``, e.g. ``M-1001:1000``).

    rule                    on            measures                                           fires when
    R-FAILED-ATTEMPTS       payment       the buyer's failed payments in the window          >= threshold
    R-VELOCITY-BUYER        payment       payments the buyer began in the window             >  threshold
    R-VELOCITY-DEVICE       payment       payments begun from the device in the window       >  threshold
    R-VELOCITY-MERCHANT     payment       payments begun to the merchant in the window       >  threshold × raise
    R-AMOUNT-UNUSUAL        payment       the amount, against the merchant's average paid    >  threshold × average
                                          amount in the window (once it has 20 payments)     (threshold: a multiple)
    R-NEW-MERCHANT-VOLUME   payment       a merchant active less than 30 days: paid in the   >  threshold × raise (fen)
                                          window plus this amount
    R-PAYOUT-AFTER-INFLOW   payout        of a payout of at least ``floor`` fen, the share   >= threshold (percent)
                                          that reached the merchant's balance (releases,
                                          direct payments) within the window
    R-CANCEL-MERCHANT       cancellation  paid orders the merchant cancelled in the window   >  threshold × raise
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from shared.contracts.risk import RiskOutcome, RiskSubject

AVERAGE_MIN_SAMPLES = 20
NEW_MERCHANT_DAYS = 30


class RuleSetting(BaseModel):
    enabled: bool = True
    window_minutes: int = Field(ge=1, le=60 * 24 * 90)
    threshold: int = Field(ge=1)
    outcome: RiskOutcome = RiskOutcome.REVIEW
    floor: int = Field(default=0, ge=0, description="Amounts (fen) below this are not looked at.")


DEFAULT_RULES: dict[str, RuleSetting] = {
    "R-FAILED-ATTEMPTS": RuleSetting(window_minutes=60, threshold=5, outcome=RiskOutcome.BLOCK),
    "R-VELOCITY-BUYER": RuleSetting(window_minutes=10, threshold=10),
    "R-VELOCITY-DEVICE": RuleSetting(window_minutes=10, threshold=10),
    "R-VELOCITY-MERCHANT": RuleSetting(window_minutes=10, threshold=300),
    "R-AMOUNT-UNUSUAL": RuleSetting(window_minutes=30 * 24 * 60, threshold=10),
    "R-NEW-MERCHANT-VOLUME": RuleSetting(window_minutes=24 * 60, threshold=5_000_000),
    "R-PAYOUT-AFTER-INFLOW": RuleSetting(window_minutes=24 * 60, threshold=80, floor=1_000_000),
    "R-CANCEL-MERCHANT": RuleSetting(window_minutes=24 * 60, threshold=20),
}
SUBJECT_OF = {
    "R-FAILED-ATTEMPTS": RiskSubject.PAYMENT, "R-VELOCITY-BUYER": RiskSubject.PAYMENT, "R-VELOCITY-DEVICE": RiskSubject.PAYMENT,
    "R-VELOCITY-MERCHANT": RiskSubject.PAYMENT, "R-AMOUNT-UNUSUAL": RiskSubject.PAYMENT,
    "R-NEW-MERCHANT-VOLUME": RiskSubject.PAYMENT, "R-PAYOUT-AFTER-INFLOW": RiskSubject.PAYOUT,
    "R-CANCEL-MERCHANT": RiskSubject.CANCELLATION,
}


@dataclass(frozen=True)
class Verdict:
    rule: str
    outcome: RiskOutcome
    observed: int
    threshold: int
    window_minutes: int
    detail: str


@dataclass(frozen=True)
class PaymentFigures:
    """What the records say, each over its rule's window, this payment not yet counted."""

    buyer_id: str
    merchant_id: str
    device_id: str | None
    amount: int
    buyer_failures: int
    buyer_payments: int
    device_payments: int
    merchant_payments: int
    merchant_paid_count: int  # payments paid to the merchant in R-AMOUNT-UNUSUAL's window
    merchant_paid_total: int
    merchant_active_since: datetime | None  # None: established before the platform's records
    merchant_paid_recently: int  # fen, in R-NEW-MERCHANT-VOLUME's window
    raise_by: int  # the merchant's limits multiplied by this


@dataclass(frozen=True)
class RiskRules:
    rules: dict[str, RuleSetting]

    def window(self, rule: str) -> timedelta:
        return timedelta(minutes=self.rules[rule].window_minutes)

    def _on(self, rule: str) -> RuleSetting | None:
        setting = self.rules.get(rule)
        return setting if setting is not None and setting.enabled else None

    def _verdict(self, rule: str, observed: int, threshold: int, detail: str) -> Verdict:
        setting = self.rules[rule]
        return Verdict(rule, setting.outcome, observed, threshold, setting.window_minutes, detail)

    def payment(self, f: PaymentFigures, now: datetime) -> Verdict | None:
        """The first rule the payment passes the limit of (blocks before reviews), or None: allowed."""
        found: list[Verdict] = []
        if (s := self._on("R-FAILED-ATTEMPTS")) and f.buyer_failures >= s.threshold:
            found.append(self._verdict("R-FAILED-ATTEMPTS", f.buyer_failures, s.threshold,
                                       f"{f.buyer_failures} failed payments by {f.buyer_id} in {_span(s)}; {s.threshold} stop it"))
        if (s := self._on("R-VELOCITY-BUYER")) and f.buyer_payments + 1 > s.threshold:
            found.append(self._verdict("R-VELOCITY-BUYER", f.buyer_payments + 1, s.threshold,
                                       f"{f.buyer_payments + 1} payments by {f.buyer_id} in {_span(s)}; at most {s.threshold}"))
        if (s := self._on("R-VELOCITY-DEVICE")) and f.device_id and f.device_payments + 1 > s.threshold:
            found.append(self._verdict("R-VELOCITY-DEVICE", f.device_payments + 1, s.threshold,
                                       f"{f.device_payments + 1} payments from device {f.device_id} in {_span(s)}; at most {s.threshold}"))
        if (s := self._on("R-VELOCITY-MERCHANT")) and f.merchant_payments + 1 > s.threshold * f.raise_by:
            limit = s.threshold * f.raise_by
            found.append(self._verdict("R-VELOCITY-MERCHANT", f.merchant_payments + 1, limit,
                                       f"{f.merchant_payments + 1} payments to {f.merchant_id} in {_span(s)}; at most {limit}"))
        if (s := self._on("R-AMOUNT-UNUSUAL")) and f.merchant_paid_count >= AVERAGE_MIN_SAMPLES:
            average = f.merchant_paid_total // f.merchant_paid_count
            if f.amount > s.threshold * average:
                found.append(self._verdict("R-AMOUNT-UNUSUAL", f.amount, s.threshold * average,
                                           f"{f.amount} fen is more than {s.threshold}× {f.merchant_id}'s average of {average} "
                                           f"over {_span(s)}"))
        if (s := self._on("R-NEW-MERCHANT-VOLUME")) and f.merchant_active_since is not None \
                and now - f.merchant_active_since < timedelta(days=NEW_MERCHANT_DAYS):
            volume, limit = f.merchant_paid_recently + f.amount, s.threshold * f.raise_by
            if volume > limit:
                found.append(self._verdict("R-NEW-MERCHANT-VOLUME", volume, limit,
                                           f"{f.merchant_id}, active since {f.merchant_active_since.date().isoformat()}, would "
                                           f"take {volume} fen in {_span(s)}; at most {limit}"))
        blocks = [v for v in found if v.outcome is RiskOutcome.BLOCK]
        return (blocks or found or [None])[0]

    def payout(self, merchant_id: str, amount: int, inflow: int) -> Verdict | None:
        """A large payout (from ``floor``) mostly made of money that reached the balance within the window
        (``inflow``: releases and direct payments to the merchant, fen)."""
        s = self._on("R-PAYOUT-AFTER-INFLOW")
        if s is None or amount <= 0 or amount < s.floor:
            return None
        share = min(100, inflow * 100 // amount)
        if share < s.threshold:
            return None
        return self._verdict("R-PAYOUT-AFTER-INFLOW", share, s.threshold,
                             f"{merchant_id} withdraws {amount} fen, {share}% of it received within {_span(s)}; "
                             f"{s.threshold}% or more is held for review")

    def cancellation(self, merchant_id: str, cancelled: int, raise_by: int) -> Verdict | None:
        """The merchant cancelled paid orders: this one is the ``cancelled``-th in the window."""
        s = self._on("R-CANCEL-MERCHANT")
        if s is None or cancelled <= s.threshold * raise_by:
            return None
        limit = s.threshold * raise_by
        return self._verdict("R-CANCEL-MERCHANT", cancelled, limit,
                             f"{merchant_id} cancelled {cancelled} paid orders in {_span(s)}; at most {limit}")


def _span(setting: RuleSetting) -> str:
    minutes = setting.window_minutes
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)} day{'s' if minutes != 24 * 60 else ''}"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    return f"{minutes} minutes"
