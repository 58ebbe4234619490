"""The demo's own sample data. The demo itself is run from a fresh clone, as a newcomer
runs it, by tests/e2e/test_newcomer.py."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_the_sample_data_is_what_the_generator_makes() -> None:
    proc = subprocess.run([sys.executable, "sample_dumps/generate.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
