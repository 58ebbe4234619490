"""The canary: seed unique secrets, run commands, then search everything written for them.

Non-negotiable 1: no plaintext key material is ever written anywhere. A Canary makes
random secrets; a test feeds them to commands, registers every directory those commands
could write into (`watch`) and every captured output (`record`); `findings` then looks
for any 12-character piece of any secret, as UTF-8 and as UTF-16, in every file below
the watched directories (database, -wal and -shm files included) and in every output.
Inputs the test itself wrote (files holding the secrets) must live outside watched dirs.
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path

PIECE = 12
ALPHABET = string.ascii_letters + string.digits


class Canary:
    def __init__(self, count: int = 8, length: int = 64) -> None:
        self.secrets = ["".join(secrets.choice(ALPHABET) for _ in range(length))
                        for _ in range(count)]
        self._dirs: list[Path] = []
        self._outputs: list[tuple[str, str]] = []

    def watch(self, path: Path) -> Path:
        self._dirs.append(Path(path))
        return Path(path)

    def record(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self._outputs.append((where, text))

    def pieces(self) -> set[str]:
        return {s[i:i + PIECE] for s in self.secrets for i in range(len(s) - PIECE + 1)}

    def files(self) -> list[Path]:
        return sorted({p for d in self._dirs if d.exists() for p in d.rglob("*") if p.is_file()})

    def findings(self) -> list[str]:
        needles = [(p, p.encode(), p.encode("utf-16-le")) for p in self.pieces()]
        found = []
        for path in self.files():
            data = path.read_bytes()
            for piece, utf8, utf16 in needles:
                if utf8 in data or utf16 in data:
                    found.append(f"{path}: contains '{piece[:4]}...'")
                    break
        for where, text in self._outputs:
            for piece, _, _ in needles:
                if piece in text:
                    found.append(f"{where}: contains '{piece[:4]}...'")
                    break
        return found

    def assert_clean(self) -> None:
        found = self.findings()
        assert not found, "plaintext key material was written:\n  " + "\n  ".join(found)
        assert self.files() or self._outputs, "the canary watched nothing"
