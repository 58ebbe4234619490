"""What the benchmarks share: running a child process for its wall time and peak RSS,
and random keys made fast enough to write millions (never committed)."""

from __future__ import annotations

import os
import string
import subprocess
import sys
import time

_ALNUM = (string.ascii_letters + string.digits).encode()
_TABLE = bytes((_ALNUM * 5)[:256])  # a byte to one of 62 characters (a slight bias: fine)


def alnum(n: int) -> str:
    """n random letters and digits: a Binance-shaped key when n is 64."""
    return os.urandom(n).translate(_TABLE).decode()


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process and the children it reaps. Dirty
    pages of the run before are flushed first, so that no run pays for another's writes."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss / 1024
