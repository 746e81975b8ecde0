"""Checks on what a merchant submits, pure: each returns None or the reason it fails.

- Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters from a 31-symbol
  alphabet (no I, O, S, V, Z), the last a check character (weights 3^i mod 31, check = 31 − Σ mod 31).
- Resident ID number (居民身份证号码), GB 11643-1999: 17 digits and a check character
  (ISO 7064 MOD 11-2, X for 10), with a real birth date.
- Bank card numbers: the Luhn check.
"""

from __future__ import annotations

import re
from datetime import date

from shared.pii import check_email, check_phone  # noqa: F401 - the notifications service checks them too

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def uscc_check_character(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(code: str) -> str | None:
    if len(code) != 18:
        return "must be 18 characters"
    if any(c not in USCC_ALPHABET for c in code):
        return "contains a character not allowed in a credit code (I, O, S, V, Z or lower case)"
    if not code[2:8].isdigit():
        return "characters 3-8 must be the administrative division code"
    if uscc_check_character(code[:17]) != code[17]:
        return "check character does not match (GB 32100-2015)"
    return None


def id_check_character(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def check_id_number(number: str, today: date, min_age: int = 18) -> str | None:
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return "must be 17 digits and a digit or X"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth date is not a real date"
    if born.year < 1900 or born > today:
        return "birth date is not plausible"
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < min_age:
        return f"the legal representative must be at least {min_age}"
    if id_check_character(number[:17]) != number[17]:
        return "check digit does not match (GB 11643-1999)"
    return None


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number]
    odd, even = digits[-1::-2], digits[-2::-2]
    return (sum(odd) + sum(sum(divmod(2 * d, 10)) for d in even)) % 10 == 0


def check_bank_card(number: str) -> str | None:
    digits = number.replace(" ", "")
    if not re.fullmatch(r"\d{12,19}", digits):
        return "must be 12 to 19 digits"
    if not luhn_valid(digits):
        return "fails the Luhn check"
    return None


def check_name(name: str) -> str | None:
    return None if 2 <= len(name.strip()) <= 50 and name.isprintable() else "must be 2 to 50 printable characters"
