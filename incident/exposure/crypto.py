"""Hints and payloads of the HasMySecretLeaked protocol, and their padding.

For a value whose fingerprint is the 32 bytes `h`:
- hint    = hex(SHA-256(h)): lets the holder of the value find its entry in a bucket;
- payload = base64(nonce(12) || AES-256-GCM(key=h, JSON)), the JSON being HMSL's
  `{"c": count, "l": {"u": url} or null}` and our extra fields, which ggshield ignores.

Padding, so that the size of an answer tells an observer nothing: every payload's
plaintext is padded with trailing spaces (valid JSON) to a multiple of PAYLOAD_BLOCK bytes,
and every bucket to the same number of entries with dummies of random bytes the same
size as a real entry (as Pwned Passwords' Add-Padding does, but to one fixed count).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PAYLOAD_BLOCK = 512
NONCE = 12
TAG = 16


def hint(fingerprint: bytes) -> str:
    return hashlib.sha256(fingerprint).hexdigest()


def padded(document: dict[str, Any]) -> bytes:
    """Compact JSON, padded with spaces to a multiple of PAYLOAD_BLOCK bytes."""
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    size = -(-len(raw) // PAYLOAD_BLOCK) * PAYLOAD_BLOCK
    return raw + b" " * (size - len(raw))


def seal(document: dict[str, Any] | bytes, fingerprint: bytes, nonce: bytes | None = None
         ) -> str:
    """The payload of one entry (a document, or its `padded` bytes), encrypted under its
    value's fingerprint. A given nonce must never seal two different plaintexts under one
    fingerprint: a random one, or one derived from the plaintext too (the corpus's)."""
    nonce = nonce or os.urandom(NONCE)
    plaintext = document if isinstance(document, bytes) else padded(document)
    sealed = AESGCM(fingerprint).encrypt(nonce, plaintext, None)
    return base64.b64encode(nonce + sealed).decode("ascii")


def unseal(payload: str, fingerprint: bytes) -> dict[str, Any] | None:
    """The document of an entry, or None when it was not sealed under this fingerprint
    (a dummy, or another value's entry that shares the hint's bucket)."""
    try:
        raw = base64.b64decode(payload, validate=True)
        document = json.loads(AESGCM(fingerprint).decrypt(raw[:NONCE], raw[NONCE:], None))
    except (ValueError, InvalidTag):
        return None
    return document if isinstance(document, dict) else None
