from __future__ import annotations

import pytest

from incident.fingerprint import SCHEMES, hmsl, hmsl_many, parse_hex, sha256
from incident.secret import Secret


def test_sha256_vector() -> None:
    assert sha256("test").hex() == (
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")


def test_hmsl_vector() -> None:
    # GitGuardian HasMySecretLeaked: scrypt, pepper sha256(b"GitGuardian"), n=2048, r=8, p=1
    assert hmsl("test").hex() == (
        "bdbfe17c6018147f07ce79f8ec415a075d761ccacc14803e7d645155bf21a75f")


def test_schemes_hash_the_canonical_value() -> None:
    assert SCHEMES["sha256"].of(Secret(' "test" ')) == sha256("test")
    assert SCHEMES["hmsl"].of(Secret("test\n")) == hmsl("test")


def test_every_registered_scheme_resolves() -> None:
    assert set(SCHEMES) == {"sha256", "hmsl"}
    for name, scheme in SCHEMES.items():
        assert scheme.name == name and len(scheme.digest("x")) == 32


def test_hmsl_is_openssls_scrypt() -> None:
    """libsodium's scrypt against the reference (OpenSSL's, as hashlib and ggshield run
    it), on values of every length class and outside ASCII."""
    import hashlib

    from incident.fingerprint import HMSL_PEPPER

    for value in ("", "a", "x" * 63, "y" * 64, "z" * 65, "k" * 1000, "clé-ключ-鍵"):
        assert hmsl(value) == hashlib.scrypt(value.encode(), salt=HMSL_PEPPER, n=2048, r=8,
                                             p=1, dklen=32)


def test_hmsl_many_matches_one_by_one() -> None:
    values = [f"value-{i}" for i in range(40)]
    assert hmsl_many(values, workers=2) == [hmsl(v) for v in values]


@pytest.mark.parametrize("text, ok", [
    ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", True),
    ("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", True),
    (" 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 ", True),
    ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0", False),
    ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a088", False),
    ("zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", False),
    ("", False),
])
def test_parse_hex(text: str, ok: bool) -> None:
    assert (parse_hex(text) is not None) is ok
