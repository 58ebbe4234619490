"""What the benchmarks share: running a child process for its wall time and peak RSS,
and random keys made fast enough to write millions (never committed)."""

from __future__ import annotations

import os
import string
import subprocess
import sys
import time
from collections.abc import Callable

_ALNUM = (string.ascii_letters + string.digits).encode()
_TABLE = bytes((_ALNUM * 5)[:256])  # a byte to one of 62 characters (a slight bias: fine)


def alnum(n: int) -> str:
    """n random letters and digits: a Binance-shaped key when n is 64."""
    return os.urandom(n).translate(_TABLE).decode()


def baseline(key_column: int, secret_column: int) -> list[str]:
    """The same-run baseline: a Python that reads a CSV file (its first argument) with the
    csv module and SHA-256es the two columns with hashlib, nothing else."""
    script = f"""
import csv, hashlib, sys
with open(sys.argv[1], newline="") as f:
    r = csv.reader(f)
    next(r)
    for row in r:
        hashlib.sha256(row[{key_column}].encode()).digest()
        hashlib.sha256(row[{secret_column}].encode()).digest()
"""
    return [sys.executable, "-c", script]


def alternate(base_cmd: list[str], our_cmd: list[str], env: dict[str, str], repeat: int,
              reset: Callable[[], None]) -> tuple[list[tuple[float, float]],
                                                   list[tuple[float, float]]]:
    """Run the baseline and ours `repeat` times each, alternating (so a slow spell of the
    machine hits both), calling `reset` before each of ours: their (seconds, MB) runs."""
    base, ours = [], []
    for _ in range(repeat):
        base.append(run(base_cmd, env))
        reset()
        ours.append(run(our_cmd, env))
    return base, ours


def run(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)
        ) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process and the children it reaps. Dirty
    pages of the run before are flushed first, so that no run pays for another's writes."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in ok:
        sys.exit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss / 1024
