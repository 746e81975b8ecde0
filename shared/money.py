"""Money: integer minor units (fen) with an ISO 4217 currency. Never floats.

The fee rule, written once: ``fee = amount * rate_bp / 10_000``, rounded half-up to the fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field

CNY = "CNY"


class Money(BaseModel):
    """An amount in minor units (fen for CNY) and its currency."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=0, le=10**12, description="Amount in minor units (fen).", examples=[12900])
    currency: str = Field(default=CNY, pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=[CNY])

    def __str__(self) -> str:
        return f"{self.amount // 100}.{self.amount % 100:02d} {self.currency}"


def fee_for(amount: int, rate_bp: int) -> int:
    """The fee on ``amount`` fen at ``rate_bp`` basis points, rounded half-up to the fen."""
    if amount < 0 or rate_bp < 0:
        raise ValueError("amount and rate must not be negative")
    fee = (Decimal(amount) * Decimal(rate_bp) / Decimal(10_000)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(fee)
