"""Files and directories on this machine.

A directory is read recursively in sorted order, `.git` and the like skipped, symbolic
links not followed (a dump folder is untrusted: a link could point anywhere). Members
are opened lazily, so a large file streams.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from incident.errors import InputError, Place
from incident.ingest.interface import Member, Source

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"})


def file_member(path: Path, name: str) -> Member:
    def opener() -> BinaryIO:
        try:
            return open(path, "rb")  # noqa: SIM115 - the caller closes it
        except OSError as e:
            raise InputError(f"cannot read ({e.strerror})", Place(name)) from None

    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", Place(name)) from None
    return Member(name, opener, size)


class FileSource(Source):
    kind = "file"

    @classmethod
    def handles(cls, spec: str) -> bool:
        return True  # the last resort: anything that is not a URL or twitter: spec

    @property
    def path(self) -> Path:
        return Path(self.spec)

    def members(self) -> Iterator[Member]:
        path = self.path
        if path.is_symlink() and not path.exists():
            raise InputError("a broken symbolic link", Place(self.spec))
        if path.is_dir():
            yield from self._walk(path)
        elif path.is_file():
            yield file_member(path, self.spec)
        elif path.exists():
            raise InputError("not a regular file or directory", Place(self.spec))
        else:
            raise InputError("no such file or directory", Place(self.spec))

    def _walk(self, root: Path) -> Iterator[Member]:
        def fail(e: OSError) -> None:
            raise InputError(f"cannot read ({e.strerror})", Place(e.filename or self.spec))

        for folder, dirs, files in os.walk(root, onerror=fail, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                yield file_member(path, str(path))
