"""Writing a file whole or not at all: a private temporary file beside it, fsynced, then
renamed over it. A run killed halfway leaves the old file (or none), never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from incident.errors import InputError, Place


def atomic_write(out: Path, write: Callable[[IO[bytes]], None], *,
                 error: type[InputError] = InputError) -> None:
    """Call `write` with a file open on a temporary beside `out` (mode 0600), then put it
    in `out`'s place. An OSError becomes `error` naming `out`."""
    out = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as e:
        raise error(f"cannot write ({e.strerror})", Place(str(out))) from e
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w+b") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, out)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise error(f"cannot write ({e.strerror})", Place(str(out))) from e
        raise
