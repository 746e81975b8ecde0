from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.pii import (
    FieldCipher,
    UnreadableValue,
    development_keys,
    key_id_of,
    mask_bank_account,
    mask_email,
    mask_id_number,
    mask_phone,
    parse_keys,
)

OLD, NEW = os.urandom(32), os.urandom(32)


def _cipher(current: str = "k1") -> FieldCipher:
    return FieldCipher({"k1": OLD, "k2": NEW}, current)


@given(st.text(max_size=200))
def test_values_round_trip_and_never_appear_in_what_is_stored(text: str) -> None:
    stored = _cipher().encrypt(text, "merchant:M-1:phone")
    assert _cipher().decrypt(stored, "merchant:M-1:phone") == text
    if len(text) >= 4:
        assert text not in stored


def test_a_value_moved_to_another_place_or_tampered_with_does_not_decrypt() -> None:
    stored = _cipher().encrypt("110101199003071234", "merchant:M-1:id_number")
    with pytest.raises(UnreadableValue):
        _cipher().decrypt(stored, "merchant:M-2:id_number")
    version, key_id, blob = stored.split(":", 2)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(UnreadableValue):
        _cipher().decrypt(f"{version}:{key_id}:{base64.b64encode(bytes(raw)).decode()}", "merchant:M-1:id_number")


def test_keys_rotate_old_values_stay_readable_until_re_encrypted() -> None:
    stored = _cipher("k1").encrypt("13812345678", "c")
    rotated_cipher = _cipher("k2")
    assert rotated_cipher.needs_rotation(stored) and rotated_cipher.decrypt(stored, "c") == "13812345678"
    again = rotated_cipher.rotate(stored, "c")
    assert not rotated_cipher.needs_rotation(again)
    with pytest.raises(UnreadableValue):
        FieldCipher({"k2": NEW}, "k2").decrypt(stored, "c")  # the old key is gone


def test_keys_are_parsed_and_checked() -> None:
    keys = parse_keys(f"a:{base64.b64encode(OLD).decode()}, b:{base64.b64encode(NEW).decode()}")
    assert keys == {"a": OLD, "b": NEW}
    with pytest.raises(ValueError):
        parse_keys("a:" + base64.b64encode(b"short").decode())
    assert list(parse_keys(development_keys())) == ["dev-only-k1"]


def test_the_first_listed_key_encrypts_unless_another_is_named() -> None:
    spec = f"k2:{base64.b64encode(NEW).decode()},k1:{base64.b64encode(OLD).decode()}"
    assert FieldCipher.from_spec(spec).current == "k2"
    assert key_id_of(FieldCipher.from_spec(spec).encrypt("x", "c")) == "k2"
    assert FieldCipher.from_spec(spec, "k1").current == "k1"
    assert FieldCipher.from_spec(spec).decrypt(_cipher("k1").encrypt("x", "c"), "c") == "x"
    with pytest.raises(ValueError, match="not among the keys"):
        FieldCipher.from_spec(spec, "k3")
    with pytest.raises(ValueError, match="no PII key"):
        FieldCipher.from_spec(" ")
    with pytest.raises(UnreadableValue):
        key_id_of("plaintext")


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id_number("110101199003071234") == "110***********1234"
    assert mask_bank_account("6222021234567890123") == "6222 **** **** 0123"
    assert mask_email("zhang.san@example.com") == "z***@example.com"
