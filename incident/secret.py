"""The Secret type and the canonical form every fingerprint is taken of.

Plaintext key material lives only inside a `Secret` (or, in a hot loop, a local `str`
that goes straight to a fingerprint). A Secret never shows its value: `repr`, `str` and
`format` give a fixed mask that does not even reveal the length, it cannot be pickled,
and it is not hashable (a set of Secrets would be a second copy to forget).
"""

from __future__ import annotations

import hmac
import unicodedata

from incident.errors import InputError

MASK = "Secret('********')"

# Quote characters that dumps and config files wrap values in.
QUOTES = "'\"`"
# What canonical() strips from the ends of an ASCII value: a value of plain ASCII that
# starts and ends with none of these is canonical already (a hot loop's shortcut).
EDGE = frozenset(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" + QUOTES)


def canonical(value: str) -> str:
    """The canonical form of a key, secret or passphrase.

    Unicode NFC, then surrounding whitespace and quotes removed (repeatedly, so
    `' "abc" '` gives `abc`). Case is kept: keys and secrets are case-sensitive.
    Idempotent: canonical(canonical(x)) == canonical(x).
    """
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    while True:
        stripped = value.strip().strip(QUOTES)
        if stripped == value:
            return value
        value = stripped


class Secret:
    """A plaintext credential component, held in memory only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret takes a str")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # undecodable input bytes (surrogate escapes)
            raise InputError("not valid text: the value holds bytes that are not UTF-8"
                             ) from None
        self._value = canonical(value)

    def reveal(self) -> str:
        """The canonical plaintext. Call it only to hash it or to sign a request."""
        return self._value

    def encode(self) -> bytes:
        return self._value.encode("utf-8")

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.encode(), other.encode())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled: plaintext never leaves memory")
