"""The report tests' sample data directory (tests/data/reports/sample, frozen from a demo
run by scripts/freeze_sample.py), and golden-file comparison.

Set UPDATE_GOLDEN=1 to rewrite the golden files from what the code makes now; then read
the diff before committing it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import ROOT

SAMPLE = ROOT / "tests" / "data" / "reports" / "sample"  # the platform responder's
USER = ROOT / "tests" / "data" / "reports" / "user"  # user-0001's own, with the claim
GOLDEN = ROOT / "tests" / "data" / "reports" / "golden"


def load_sample(home: Path, sample: Path = SAMPLE) -> Path:
    """A data directory at `home` holding a sample: the database rebuilt from its SQL,
    the snapshots copied. Opening it with Store applies any newer migrations."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = home / "incident.db"
    conn = sqlite3.connect(db)
    try:
        conn.executescript((sample / "incident.sql").read_text(encoding="utf-8"))
    finally:
        conn.close()
    os.chmod(db, 0o600)
    if (sample / "snapshots").is_dir():
        shutil.copytree(sample / "snapshots", home / "snapshots")
    return home


def assert_golden(name: str, data: bytes) -> None:
    """`data` equals the golden file `name`, whole."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"no golden file {path.relative_to(ROOT)}: run with UPDATE_GOLDEN=1"
    expected = path.read_bytes()
    if data != expected:
        mine = path.with_suffix(path.suffix + ".new")
        mine.write_bytes(data)
        raise AssertionError(f"{path.relative_to(ROOT)} differs (this run's output left in "
                             f"a .new file beside it: {mine.name}); diff them, and if the "
                             "change is right, rerun with UPDATE_GOLDEN=1")
