"""Freeze the demo's data directories into the report tests' samples:
tests/data/reports/sample/ (the platform responder's, demo-output/home) and
tests/data/reports/user/ (user-0001's own, demo-output/user-home, with the claim).

    make demo && .venv/bin/python scripts/freeze_sample.py

The database goes in as SQL text (sqlite3's dump: diffable, and only fingerprints, as
everything in a data directory), the snapshots as they are. tests/reports.py loads it into
a fresh data directory, where the reports are built and compared with their golden files.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "reports"
SAMPLES = {"sample": "home", "user": "user-home"}  # sample -> the demo's directory


def freeze(home: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    conn = sqlite3.connect(f"file:{home / 'incident.db'}?mode=ro", uri=True)
    try:
        sql = "\n".join(conn.iterdump()) + "\n"
    finally:
        conn.close()
    (out / "incident.sql").write_text(sql, encoding="utf-8")
    if (home / "snapshots").is_dir():
        shutil.copytree(home / "snapshots", out / "snapshots")


if __name__ == "__main__":
    demo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "demo-output"
    for name, directory in SAMPLES.items():
        freeze(demo / directory, DATA / name)
        print(f"{demo / directory} frozen into {(DATA / name).relative_to(ROOT)}")
