"""What the registry returns: frozen records with fingerprints, never plaintext."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _hex(digest: bytes | None) -> str | None:
    return digest.hex() if digest is not None else None


@dataclass(frozen=True, slots=True)
class RegisteredKey:
    label: str
    exchange: str
    key_sha256: bytes | None
    secret_sha256: bytes | None
    key_hmsl: bytes | None
    secret_hmsl: bytes | None
    has_passphrase: bool | None  # None: unknown (registered by fingerprint)
    source: str  # prompt | stdin | import
    source_file: str | None
    source_line: int | None
    added_at: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> RegisteredKey:
        """From IDENTITY columns, then source kind, file, line and time added."""
        ex, label, ks, ss, kh, sh, pp, source, file, line, added = row
        return cls(label, ex, ks, ss, kh, sh, None if pp is None else bool(pp), source, file,
                   line, added)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "exchange": self.exchange,
            "key_sha256": _hex(self.key_sha256),
            "secret_sha256": _hex(self.secret_sha256),
            "key_hmsl": _hex(self.key_hmsl),
            "secret_hmsl": _hex(self.secret_hmsl),
            "has_passphrase": self.has_passphrase,
            "source": self.source,
            "source_file": self.source_file,
            "source_line": self.source_line,
            "added_at": self.added_at,
        }


@dataclass(frozen=True, slots=True)
class ImportResult:
    source: str
    layout: str
    rows: int
    added: int
    updated: int  # registered before; this file filled in what was unknown (hmsl, secret)
    unchanged: int
