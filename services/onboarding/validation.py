"""Checks on what a merchant submits, pure: each returns None or the reason it fails.

- Unified social credit code (统一社会信用代码), GB 32100-2015: python-stdnum's ``stdnum.cn.uscc`` (18
  characters of a 31-symbol alphabet without I, O, S, V, Z; digits 1-8; the check character). Characters
  9-17 are the organization code (组织机构代码, GB 11714-1997), whose own check character (the 17th:
  11 - Σ(value × 3,7,9,10,5,8,4,2) mod 11, X for 10, 0 for 11) stdnum does not check: checked here, so
  ``91330106739184620Y`` (the right code ends ...739184629...) is refused.
- Resident ID number (居民身份证号码), GB 11643-1999: ``stdnum.cn.ric``'s check digit (ISO 7064 MOD 11-2, X
  for 10) and birth date; the area code must be one stdnum knows, in any period (stdnum's own validate also
  wants the county to exist in the birth year, which refuses people registered after their county was
  created or renamed); and the project's plausibility: born 1900 or later, not in the future, an adult.
- Settlement accounts, by kind (``SettlementAccountKind``):
  a personal bank card (个人银行卡): 12-19 digits passing the Luhn check (``stdnum.luhn``);
  a corporate account (对公账户): 9-25 digits and nothing else. Banks number corporate accounts by their own
  rules with no public check digit (most are not Luhn), so the format is all that can be checked here; the
  bank confirms the account on the first transfer. Spaces are allowed in both and ignored.
"""

from __future__ import annotations

import re
from datetime import date

from stdnum import luhn, numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from shared.contracts.onboarding import SettlementAccountKind
from shared.pii import check_email, check_phone  # noqa: F401 - the notifications service checks them too

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORGANIZATION_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc_check_character(first17: str) -> str:
    return uscc.calc_check_digit(first17 + "0")


def organization_check_character(body: str) -> str:
    """The check character of an organization code's 8-character body (GB 11714-1997)."""
    check = 11 - sum(int(c, 36) * w for c, w in zip(body, ORGANIZATION_CODE_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def check_uscc(code: str) -> str | None:
    if len(code) != 18:
        return "must be 18 characters"
    if any(c not in USCC_ALPHABET for c in code):
        return "contains a character not allowed in a credit code (I, O, S, V, Z or lower case)"
    try:
        uscc.validate(code)
    except InvalidLength:
        return "must be 18 characters"
    except InvalidFormat:
        return "characters 1-8 must be digits (registering authority, entity type, administrative division)"
    except InvalidChecksum:
        return "check character does not match (GB 32100-2015)"
    if organization_check_character(code[8:16]) != code[16]:
        return "the organization code it embeds (characters 9-17) fails its check character (GB 11714-1997)"
    return None


def id_check_character(first17: str) -> str:
    return ric.calc_check_digit(first17 + "0")


def _known_area(number: str) -> bool:
    """The first six digits name a county-level division stdnum knows, in any period."""
    return any("county" in props for _, props in numdb.get("cn/loc").info(number[:6]))


def check_id_number(number: str, today: date, min_age: int = 18) -> str | None:
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return "must be 17 digits and a digit or X"
    try:
        born = ric.get_birth_date(number)
    except InvalidComponent:
        return "birth date is not a real date"
    if born.year < 1900 or born > today:
        return "birth date is not plausible"
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < min_age:
        return f"the legal representative must be at least {min_age}"
    if ric.calc_check_digit(number) != number[17]:
        return "check digit does not match (GB 11643-1999)"
    if not _known_area(number):
        return "the area code (digits 1-6) is not a county-level division"
    return None


def luhn_valid(number: str) -> bool:
    return luhn.is_valid(number)


def check_bank_card(number: str) -> str | None:
    digits = number.replace(" ", "")
    if not re.fullmatch(r"\d{12,19}", digits):
        return "must be 12 to 19 digits"
    if not luhn.is_valid(digits):
        return "fails the Luhn check"
    return None


def check_corporate_account(number: str) -> str | None:
    return None if re.fullmatch(r"\d{9,25}", number.replace(" ", "")) else "a corporate account (对公账户) must be 9 to 25 digits"


def check_settlement_account(number: str, kind: SettlementAccountKind) -> str | None:
    if kind is SettlementAccountKind.CORPORATE:
        return check_corporate_account(number)
    return check_bank_card(number)


def check_name(name: str) -> str | None:
    return None if 2 <= len(name.strip()) <= 50 and name.isprintable() else "must be 2 to 50 printable characters"
