from __future__ import annotations

import pickle
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident.errors import InputError
from incident.secret import MASK, Secret, canonical

VALUE = "Abc123SecretValue"


def test_masked_form_is_pinned() -> None:
    s = Secret(VALUE)
    assert repr(s) == "Secret('********')" == MASK
    assert str(s) == MASK
    assert f"{s}" == MASK and f"{s:>40}" == MASK and "%s" % s == MASK
    assert VALUE not in repr([s, {"k": s}])


def test_the_mask_does_not_reveal_the_length() -> None:
    assert repr(Secret("a")) == repr(Secret("a" * 500))


def test_reveal_gives_the_canonical_value() -> None:
    assert Secret(f'  "{VALUE}"\n').reveal() == VALUE
    assert Secret(VALUE).encode() == VALUE.encode()


def test_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(VALUE))


def test_compares_by_value_but_is_not_hashable() -> None:
    assert Secret(VALUE) == Secret(f" {VALUE} ")
    assert Secret(VALUE) != Secret(VALUE.lower())
    with pytest.raises(TypeError):
        hash(Secret(VALUE))


@pytest.mark.parametrize("raw, expected", [
    ("abc", "abc"),
    ("  abc\t\r\n", "abc"),
    ('"abc"', "abc"),
    ("'abc'", "abc"),
    ("`abc`", "abc"),
    (' " \'abc\' " ', "abc"),
    ('"abc', "abc"),           # a quote left by a broken dump still goes
    ("AbC", "AbC"),            # case is kept
    ("a b", "a b"),            # inner whitespace is kept
    ("cafe\u0301", "caf\u00e9"),  # NFC
    ("\u00a0abc\u2003", "abc"),   # Unicode whitespace
    ("", ""),
    ('""', ""),
])
def test_canonical(raw: str, expected: str) -> None:
    assert canonical(raw) == expected


@given(st.text())
def test_canonical_is_idempotent_and_nfc(raw: str) -> None:
    once = canonical(raw)
    assert canonical(once) == once
    assert unicodedata.normalize("NFC", once) == once
    assert once == once.strip()


def test_undecodable_input_is_refused_without_echo() -> None:
    raw = b"KEY\xff\xfeabc".decode("utf-8", "surrogateescape")
    with pytest.raises(InputError) as e:
        Secret(raw)
    assert str(e.value) == "not valid text: the value holds bytes that are not UTF-8"
