from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.onboarding import validation as v

TODAY = date(2026, 11, 23)
USCC = "91350100M000100Y43"          # a published example of a valid credit code
ID_NUMBER = "11010519491231002X"     # a published example of a valid ID number


def test_a_valid_credit_code_passes_and_any_changed_character_fails() -> None:
    assert v.check_uscc(USCC) is None
    assert v.check_uscc(USCC[:17] + "4") == "check character does not match (GB 32100-2015)"
    assert "character not allowed" in (v.check_uscc("91350100M000100YO3") or "")
    assert v.check_uscc(USCC[:-1]) == "must be 18 characters"


@given(st.text(alphabet=v.USCC_ALPHABET, min_size=17, max_size=17).filter(lambda s: s[2:8].isdigit()))
def test_the_check_character_makes_any_code_valid_and_detects_single_substitutions(body: str) -> None:
    code = body + v.uscc_check_character(body)
    assert v.check_uscc(code) is None
    swapped = v.USCC_ALPHABET[(v.USCC_ALPHABET.index(body[0]) + 1) % 31] + code[1:]
    assert v.check_uscc(swapped) is not None


def test_id_numbers_need_the_check_digit_and_a_plausible_adult_birth_date() -> None:
    assert v.check_id_number(ID_NUMBER, TODAY) is None
    assert v.check_id_number(ID_NUMBER[:-1] + "1", TODAY) == "check digit does not match (GB 11643-1999)"
    no_such_day = "11010519490231" + "0021"
    assert v.check_id_number(no_such_day[:17] + v.id_check_character(no_such_day[:17]), TODAY) == "birth date is not a real date"
    child = "110105" + "20150101" + "002"
    assert "at least 18" in (v.check_id_number(child + v.id_check_character(child), TODAY) or "")
    assert v.check_id_number("1101051949123100", TODAY) == "must be 17 digits and a digit or X"


def test_bank_cards_pass_luhn_and_phones_and_emails_have_their_shape() -> None:
    assert v.check_bank_card("4111 1111 1111 1111") is None
    assert v.check_bank_card("4111111111111112") == "fails the Luhn check"
    assert v.check_bank_card("12ab") == "must be 12 to 19 digits"
    assert v.check_phone("13812345678") is None and v.check_phone("12812345678") is not None
    assert v.check_email("zhang@example.com") is None and v.check_email("zhang@") is not None


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_luhn_check_digit_round_trip(body: str) -> None:
    check = next(str(d) for d in range(10) if v.luhn_valid(body + str(d)))
    assert v.check_bank_card(body + check) is None
