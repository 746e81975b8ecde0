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


def test_a_credit_code_whose_embedded_organization_code_has_a_wrong_check_digit_is_refused() -> None:
    assert v.organization_check_character("73918462") == "9"
    assert v.check_uscc("91330106739184620Y") == ("the organization code it embeds (characters 9-17) fails its check "
                                                  "character (GB 11714-1997)")
    fixed = "9133010673918462" + "9"
    assert v.check_uscc(fixed + v.uscc_check_character(fixed)) is None


ORGANIZATION_BODY = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), ORGANIZATION_BODY)
def test_the_check_characters_make_any_code_valid_and_detect_single_substitutions(head: str, organization: str) -> None:
    body = head + organization + v.organization_check_character(organization)
    code = body + v.uscc_check_character(body)
    assert v.check_uscc(code) is None
    swapped = str((int(code[0]) + 1) % 10) + code[1:]
    assert v.check_uscc(swapped) is not None
    last = int(organization[-1], 36)  # a substitution changing a value by less than 11 changes the mod-11 check
    other = organization[:-1] + next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if 0 < abs(int(c, 36) - last) < 11)
    changed = head + other + code[16]
    assert v.check_uscc(changed + v.uscc_check_character(changed)) is not None  # the USCC check alone would pass


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


def test_a_corporate_account_is_checked_by_its_format_not_by_luhn() -> None:
    corporate = v.SettlementAccountKind.CORPORATE
    assert v.check_settlement_account("4111111111111112", corporate) is None  # not Luhn, still a corporate account
    assert v.check_settlement_account("3305 0161 6727 0000 0123", corporate) is None
    assert v.check_settlement_account("12345678", corporate) == "a corporate account (对公账户) must be 9 to 25 digits"
    assert v.check_settlement_account("1" * 26, corporate) is not None
    assert v.check_settlement_account("33050161-672700", corporate) is not None
    assert v.check_settlement_account("4111111111111112", v.SettlementAccountKind.PERSONAL_CARD) == "fails the Luhn check"


def test_an_id_number_needs_a_known_area_code_in_any_period() -> None:
    born_before_the_district = "510107198506123718"  # Chengdu Wuhou district was created in 1990
    assert v.check_id_number(born_before_the_district, TODAY) is None
    unknown = "990107198506123"
    body = unknown + "71"
    assert v.check_id_number(body + v.id_check_character(body), TODAY) == "the area code (digits 1-6) is not a county-level division"
