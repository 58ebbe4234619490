"""Names taken from a dump (a sheet's title, a table's, a variable's, a chat's), made safe
to show: in a message, a Record's sub (and so the database), the terminal.

A name is kept only if it is short, printable and does not look like a credential: a dump
may name a sheet or a variable with a key, or put a terminal escape in a title. Otherwise
the caller's fallback (`sheet 2`, `table 3`) stands in for it.
"""

from __future__ import annotations

import re

from incident.ingest.shapes import SHAPES, entropy_bits

MAX_NAME = 40  # characters
LONG_TOKEN = 16  # a run of key characters this long is looked at closely
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]+")
_SEPARATORS = re.compile(r"[+/=_-]+")
_SEGMENT = re.compile(r"([A-Za-z]*)([0-9]*)")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def _wordlike(segment: str) -> bool:
    """A part of an identifier: letters of one case or in camelCase words of three or
    more letters, then maybe a number (`api`, `SECRET`, `apiKey`, `keys2024`)."""
    found = _SEGMENT.fullmatch(segment)
    if found is None:
        return False
    letters = found[1]
    if not letters or letters.islower() or letters.isupper():
        return True
    words = _CAMEL.findall(letters)
    return "".join(words) == letters and 3 * len(words) <= len(letters)


def _credential_like(token: str) -> bool:
    """Whether a run of key characters could be a key, a secret or a part of one."""
    if len(token) < LONG_TOKEN:
        return False
    if any(s.key.fullmatch(token) or s.secret.fullmatch(token) for s in SHAPES):
        return True
    for segment in _SEPARATORS.split(token):
        if not _wordlike(segment):
            return True
        # One case (or digits) at length with the entropy of a random string: a key's
        # part (`ABCDEFGHIJKLMNOP`); camelCase words (`binanceApiSecretKey`) are a name.
        if len(segment) >= LONG_TOKEN and entropy_bits(segment) >= 3.0 and (
                segment.lower() == segment or segment.upper() == segment):
            return True
    return False


def safe_name(name: str, fallback: str) -> str:
    """`name` (stripped) if it is safe to show, else `fallback`: at most MAX_NAME
    characters, printable (no control characters, escapes, bidi overrides), and no run of
    16 or more key characters that could be a credential."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return fallback
    if any(_credential_like(token) for token in _TOKEN.findall(name)):
        return fallback
    return name


def labelled(kind: str, name: str, number: int) -> str:
    """`<kind> <name>` if the name is safe to show, else `<kind> <number>`."""
    kept = safe_name(name, "")
    return f"{kind} {kept}" if kept else f"{kind} {number}"
