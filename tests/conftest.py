from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.canary import Canary

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory, as $INCIDENT_HOME."""
    path = tmp_path / "home"
    monkeypatch.setenv("INCIDENT_HOME", str(path))
    return path


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the CLI in this process: cli("keys", "list", input="...") -> Result."""
    from incident.cli import run

    def invoke(*args: str, input: str = "") -> Result:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run([str(a) for a in args])
        return Result(code, out.getvalue(), err.getvalue())

    return invoke


def run_incident(*args: str, env: dict[str, str] | None = None, input: str | None = None,
                 timeout: float = 120) -> Result:
    """Run `python -m incident` as a real process."""
    proc = subprocess.run([sys.executable, "-m", "incident", *map(str, args)], input=input,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def canary() -> Iterator[Canary]:
    """Seeded secrets; whatever the test watched and recorded is checked at the end too."""
    c = Canary()
    yield c
    c.assert_clean()
