"""Bytes to text, the way dumps are really encoded.

UTF-8 with or without a BOM; UTF-16 and UTF-32 with their BOM; and when the bytes are not
UTF-8, cp1252 (Windows' default, where most non-UTF-8 dumps come from) with latin-1 for
the five bytes cp1252 leaves undefined, so every byte string decodes. A NUL byte outside
UTF-16/32 marks binary data, which is refused rather than scanned as text.
"""

from __future__ import annotations

import codecs

from incident.errors import InputError, Place

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _cp1252_or_latin1(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start:error.end]
    return bytes(bad).decode("latin-1"), error.end


codecs.register_error("incident-latin1", _cp1252_or_latin1)


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start names, or None."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return None


def looks_binary(head: bytes) -> bool:
    """Binary data, not text: NUL bytes with no UTF-16/32 BOM, or mostly control bytes."""
    if not head or bom_encoding(head) in ("utf-16", "utf-32"):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head[:4096] if b < 9 or 13 < b < 32)
    return controls > len(head[:4096]) // 10


def decode(data: bytes, name: str) -> tuple[str, str]:
    """(text, encoding used) of a whole member. Raises InputError for binary data or a
    broken UTF-16/32 file, naming only the place."""
    encoding = bom_encoding(data[:4])
    if encoding in ("utf-16", "utf-32"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as e:
            raise InputError(f"not valid {encoding.upper()} text (at byte {e.start})",
                             Place(name)) from None
    if looks_binary(data[:65536]):
        raise InputError("binary data, not text", Place(name))
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="incident-latin1"), "cp1252"


def decode_line(data: bytes) -> str:
    """One line of a streamed UTF-8 member, with the cp1252 fallback."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="incident-latin1")
