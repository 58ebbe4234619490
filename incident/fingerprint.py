"""Fingerprint schemes: what is stored in place of a key or secret.

- `sha256`: SHA-256 of the canonical UTF-8 value. The ecosystem's plain convention, so a
  platform can export its own keys' fingerprints with one SQL statement.
- `hmsl`: GitGuardian HasMySecretLeaked's scheme, scrypt with a public pepper, for
  interoperability with `ggshield hmsl`. Slow by design: about 300 a second per core
  through libsodium's scrypt (PyNaCl), a third faster than OpenSSL's, which hashlib and
  ggshield use; the two give the same bytes (a test holds them to it).

Digests are 32 raw bytes inside the library and the store; hex only at the edges.
Passphrases are low-entropy and are never fingerprinted alone: only their presence is kept.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from incident.secret import Secret

HMSL_PEPPER = hashlib.sha256(b"GitGuardian").digest()
HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256(value: str) -> bytes:
    """SHA-256 of an already canonical value."""
    return hashlib.sha256(value.encode("utf-8")).digest()


def hmsl(value: str) -> bytes:
    """HasMySecretLeaked's scrypt fingerprint of an already canonical value."""
    return _scrypt()(value.encode("utf-8"), HMSL_PEPPER, 2048, 8, 1, 32, 8 << 20)


@functools.cache
def _scrypt() -> Callable[[bytes, bytes, int, int, int, int, int], bytes]:
    """libsodium's scrypt (imported on first use: most commands never need it)."""
    from nacl.bindings import crypto_pwhash_scryptsalsa208sha256_ll

    return crypto_pwhash_scryptsalsa208sha256_ll


@dataclass(frozen=True, slots=True)
class Scheme:
    name: str
    digest: Callable[[str], bytes]

    def of(self, secret: Secret) -> bytes:
        return self.digest(secret.reveal())


SCHEMES: dict[str, Scheme] = {
    "sha256": Scheme("sha256", sha256),
    "hmsl": Scheme("hmsl", hmsl),
}


def hmsl_many(values: Iterable[str], workers: int | None = None) -> list[bytes]:
    """hmsl of many canonical values on every core. libsodium's scrypt runs without the
    GIL, so threads scale and the plaintext never crosses a process boundary."""
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(hmsl, values))


def parse_hex(text: str) -> bytes | None:
    """A 64-hex-character fingerprint as bytes (either case accepted), or None."""
    text = text.strip().lower()
    if not HEX64.fullmatch(text):
        return None
    return bytes.fromhex(text)
