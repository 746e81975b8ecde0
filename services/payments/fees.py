"""The published fee schedule: a rate by industry, adjusted by payment method and by the
merchant's paid volume so far this calendar month (China time). The guarantee (一键担保) costs
nothing extra. Fees are ``amount × rate_bp / 10000`` rounded half-up to the fen (shared.money)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shared.contracts.payments import PaymentMethod

CHINA = timezone(timedelta(hours=8))

INDUSTRY_RATE_BP: dict[str, int] = {
    "retail": 60,
    "food": 38,
    "digital_goods": 100,
    "services": 60,
    "education": 30,
    "travel": 55,
}
DEFAULT_INDUSTRY = "retail"

METHOD_ADJUST_BP: dict[PaymentMethod, int] = {
    PaymentMethod.QR_CODE: 0,
    PaymentMethod.PAYMENT_LINK: 0,
    PaymentMethod.IN_APP: -5,
}

# (paid volume this month from, in fen; adjustment in basis points)
VOLUME_TIERS: tuple[tuple[int, int], ...] = (
    (0, 0),
    (10_000_000, -5),      # from 100,000 yuan
    (100_000_000, -10),    # from 1,000,000 yuan
)
FLOOR_BP = 20


@dataclass(frozen=True)
class FeeQuote:
    rate_bp: int
    industry: str
    tier_from: int


def rate(industry: str, method: PaymentMethod, month_volume: int) -> FeeQuote:
    """The rate for the next payment, given the merchant's paid volume so far this month."""
    known = industry if industry in INDUSTRY_RATE_BP else DEFAULT_INDUSTRY
    tier_from, tier_adjust = max((t for t in VOLUME_TIERS if month_volume >= t[0]), key=lambda t: t[0])
    bp = INDUSTRY_RATE_BP[known] + METHOD_ADJUST_BP[method] + tier_adjust
    return FeeQuote(rate_bp=max(bp, FLOOR_BP), industry=known, tier_from=tier_from)


def month_of(now: datetime) -> str:
    """``now``'s calendar month in China time, ``YYYY-MM``: monthly volume tiers count by it."""
    return now.astimezone(CHINA).strftime("%Y-%m")
