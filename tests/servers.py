"""Real servers on 127.0.0.1 for tests: `incident serve` and a plain static web server,
each a child process that is always stopped (the `with` block ends it)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts import loopback

ROOT = Path(__file__).resolve().parent.parent
GGSHIELD = Path(os.environ.get("INCIDENT_TEST_GGSHIELD",
                               ROOT / ".venv-ggshield" / "bin" / "ggshield"))


@dataclass
class Served:
    url: str  # without a trailing slash
    log: Path  # the server's standard error (and output)
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def incident_serve(env: dict[str, str], log: Path, *args: str,
                   timeout: float = 60) -> Iterator[Served]:
    """`incident serve --port 0 ARGS` until the block ends, answering /healthz."""
    with loopback.incident_serve(list(args), {**os.environ, **env}, log, timeout) as (
            url, proc):
        served = Served(url, log, proc)
        _wait_until_up(served.url + "/healthz", time.monotonic() + timeout)
        yield served


@contextlib.contextmanager
def static_server(folder: Path, log: Path, timeout: float = 30) -> Iterator[str]:
    """`python -m http.server` on a free 127.0.0.1 port serving `folder`: the base URL."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                 "--directory", str(folder), str(port)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url + "/", time.monotonic() + timeout)
        yield url
    finally:
        loopback.stop(proc)


def _wait_until_up(url: str, deadline: float) -> None:
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer")
        time.sleep(0.05)


def ggshield(*args: str, env: dict[str, str], timeout: float = 120
             ) -> subprocess.CompletedProcess[str]:
    """ggshield (its own virtual environment, made by the test set-up), anonymously: no
    GITGUARDIAN_* variable of the caller's reaches it."""
    assert GGSHIELD.exists(), (f"{GGSHIELD} is missing: `make test` installs ggshield into "
                               ".venv-ggshield")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GITGUARDIAN")}
    return subprocess.run([str(GGSHIELD), *args], capture_output=True, text=True,
                          timeout=timeout, env={**clean, **env})
