"""Two incident processes writing at once must not corrupt the store or lose a write."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from incident.settings import Settings
from incident.store import Store
from tests.conftest import ROOT, run_incident

ADDER = """
import sys
from incident import registry
from incident.secret import Secret
from incident.settings import Settings
from incident.store import Store
settings = Settings.from_env()
for i in range(int(sys.argv[1])):
    with Store.open(settings) as store:  # a fresh connection each time, like a CLI call
        registry.add_key(store, "okx", f"added-{i}", Secret(f"added-key-{i}"), None, False,
                         "stdin")
"""


def keys_file(path: Path, prefix: str, n: int) -> Path:
    path.write_text("exchange,label,api_key,api_secret\n" + "".join(
        f"binance,{prefix}-{i},{prefix}-key-{i},{prefix}-secret-{i}\n" for i in range(n)))
    return path


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "INCIDENT_HOME": str(tmp_path / "home")}
    files = [keys_file(tmp_path / f"{p}.csv", p, 20_000) for p in ("a", "b")]
    procs = [subprocess.Popen([sys.executable, "-m", "incident", "keys", "import", str(f)],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    procs.append(subprocess.Popen([sys.executable, "-c", ADDER, "40"], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with Store.open(Settings(data_dir=tmp_path / "home")) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        labels = {r[0] for r in store.conn.execute("SELECT label FROM keys")}
    expected = {f"{p}-{i}" for p in ("a", "b") for i in range(20_000)}
    expected |= {f"added-{i}" for i in range(40)}
    assert labels == expected


def test_a_writer_held_out_too_long_exits_4(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.open(Settings(data_dir=home)) as holder, holder.write():
        start = time.monotonic()
        result = run_incident("keys", "add", "--exchange", "okx", "--label", "x", "--stdin",
                              input="k\n", env={"INCIDENT_HOME": str(home),
                                                "INCIDENT_BUSY_TIMEOUT": "0.5"})
        assert time.monotonic() - start < 30
    assert result.code == 4
    assert "another incident process held the database" in result.stderr
    conn = sqlite3.connect(home / "incident.db")
    assert conn.execute("SELECT count(*) FROM keys").fetchone()[0] == 0
