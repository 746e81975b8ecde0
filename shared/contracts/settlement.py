"""A merchant's settlement account (结算账户), as onboarding verified it and payouts use it: an opaque
reference, a masked number, its kind, and the number itself sealed (AES-256-GCM) with the bank-account seal
keys onboarding shares with the bank adapter only. Payments carries the sealed number to the bank and can
never read it."""

from __future__ import annotations

from enum import StrEnum

from shared.pii import FieldCipher


class SettlementAccountKind(StrEnum):
    PERSONAL_CARD = "personal_card"  # 个人银行卡: 12-19 digits, Luhn
    CORPORATE = "corporate"          # 对公账户: 9-25 digits, bank-specific, no public check digit


DEVELOPMENT_REF_PREFIX = "SA-DEV-"


def development_account_ref(merchant_id: str) -> str:
    """The account payments seeds for a merchant it seeds in dev and test mode (never in production)."""
    return f"{DEVELOPMENT_REF_PREFIX}{merchant_id}"


def account_context(merchant_id: str, account_ref: str) -> str:
    """What a sealed account number is bound to: moved to another merchant or reference, it does not open."""
    return f"settlement-account:{merchant_id}:{account_ref}"


def seal_account(number: str, merchant_id: str, account_ref: str, cipher: FieldCipher) -> str:
    return cipher.encrypt(number.replace(" ", ""), account_context(merchant_id, account_ref))


def open_account(sealed: str, merchant_id: str, account_ref: str, cipher: FieldCipher) -> str:
    """The number; raises ``shared.pii.UnreadableValue`` without the right key, or for another merchant or reference."""
    return cipher.decrypt(sealed, account_context(merchant_id, account_ref))
