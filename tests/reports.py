"""The report tests' sample data directory (tests/data/reports/sample, frozen from a demo
run by scripts/freeze_sample.py), and golden-file comparison.

Set UPDATE_GOLDEN=1 to rewrite the golden files from what the code makes now; then read
the diff before committing it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incident.fingerprint import sha256
from tests.canary import Canary
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


def register_exposed(cli: Any, home: Path, tmp_path: Path, canary: Canary, label: str
                     ) -> None:
    """A key of the canary's, registered by fingerprint under `label`, found in a dump it
    is in: the commands' output is recorded and the data directory watched."""
    key, secret = canary.secrets[0], canary.secrets[1]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    label_cell = label.replace('"', '""')
    (inputs / "mine.csv").write_text(
        'exchange,label,key_sha256,secret_sha256\n'
        f'binance,"{label_cell}",{sha256(key).hex()},{sha256(secret).hex()}\n')
    (inputs / "dump.csv").write_text(f"exchange,api_key,api_secret\nbinance,{key},{secret}\n")
    canary.watch(home)
    for args in (("keys", "import", inputs / "mine.csv"), ("ingest", inputs / "dump.csv"),
                 ("match",)):
        result = cli(*args)
        canary.record(" ".join(map(str, args)), result.stdout + result.stderr)
        assert result.code in (0, 1), (args, result.stderr)


def rewrite_zip(src: Path, change: Callable[[str, bytes], bytes | None] = lambda n, d: d,
                add: dict[str, bytes] | None = None, dst: Path | None = None) -> Path:
    """A copy of the ZIP (beside it, NAME-t.zip, unless `dst`) with each entry passed
    through `change` (None drops it) and `add`'s entries appended: a tampered bundle."""
    dst = dst or src.with_name(f"{src.stem}-t.zip")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst
