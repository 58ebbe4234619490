from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT


def test_the_demo_runs_and_keeps_to_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    proc = subprocess.run([sys.executable, "scripts/demo.py"], cwd=ROOT, text=True,
                          capture_output=True, timeout=300,
                          env={**os.environ, "DEMO_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "24 rows: 24 added, 0 already registered" in proc.stdout
    assert "24 rows: 0 added, 24 already registered" in proc.stdout
    assert "this key is already registered as 'user-0004-okx'" in proc.stdout
    assert "registered 'alice-okx' (okx)" in proc.stdout
    assert "dump 1 '3Commas release (2022)': 200 credentials" in proc.stdout
    assert "already ingested as dump 1 ('3Commas release (2022)'" in proc.stdout
    assert "dump 2 'paste AbC123': 12 credentials" in proc.stdout
    assert "release-cut.tar.gz!release-cut.tar: corrupt or truncated" in proc.stdout
    assert "7 dumps" in proc.stdout
    assert "5 of 39 registered keys exposed" in proc.stdout  # match
    assert "EXPOSED: the key and its secret are in 2 dumps" in proc.stdout  # local
    assert "EXPOSED: the key is in a leak" in proc.stdout  # by k-anonymity, the key first
    assert "entries (hint + encrypted payload), padded" in proc.stdout
    assert "leaks_count: 1 (count 2)" in proc.stdout  # ggshield, installed by make test
    assert (out / "exposure-site" / "index.html").is_file()
    assert sorted(p.name for p in (out / "home").iterdir()) == ["exposure.key", "incident.db",
                                                                 "runs", "snapshots"]
    # the exchange: the attack replayed, a snapshot, the manual steps, a revocation
    assert "user-0001-binance (binance), 2022-12-17T00:00:00.000Z to" in proc.stdout
    assert "1. Log in to Binance and open Account > API Management." in proc.stdout
    assert "revoke done via api:master: deleted the key of sub-account" in proc.stdout
    assert "refused the key (code -2015)" in proc.stdout
    assert "revoke already via api:master" in proc.stdout
    # the playbooks: a user's run waits for the manual deletion, then proves the key dead;
    # the platform's waits for a second responder, then revokes, proves and mails
    assert "waits for a person: 1 task (user-0001-binance)" in proc.stdout
    assert "verify[user-0001-binance]: revoked" in proc.stdout
    assert "needs approval (anyone other than first-responder)" in proc.stdout
    assert "approved by second-responder" in proc.stdout
    assert proc.stdout.count("run 1: done") == 2 and "run 2: done" in proc.stdout
    assert "the mail server received 4 mails for 4 users (4 affected)" in proc.stdout
    assert len(list((out / "mail").glob("*.eml"))) == 4
    assert re.search(r"audit log intact: \d+ entries", proc.stdout)
    # it ends with the claim and its bundle for the victim, the exposure and incident reports
    reports = out / "reports"
    assert re.search(r"claim\[user-0001-binance\]: evidence bundle evidence-user-0001-binance"
                     r"\.zip: \d+ files, Merkle root [0-9a-f]{16}", proc.stdout)
    assert re.search(r"bundle intact: \d+ files, Merkle root [0-9a-f]{64}", proc.stdout)
    names = {p.name for p in reports.iterdir()}
    for stem in ("claim-user-0001-binance", "exposure"):
        assert {f"{stem}.{x}" for x in ("html", "md", "json", "pdf")} <= names
    assert any(n.startswith("incident") and n.endswith(".pdf") for n in names), names
    assert "evidence-user-0001-binance.zip" in names
    snapshot, = (out / "home" / "snapshots" / "user-0001-binance").iterdir()
    assert (snapshot / "snapshot.json").stat().st_mode & 0o777 == 0o600
    assert (out / "sim-accounts.json").stat().st_mode & 0o777 == 0o600
    # the service it started is gone
    for pattern in (r"serving on (http://127\.0\.0\.1:\d+)/",
                    r"sim-exchange on (http://127\.0\.0\.1:\d+)/"):
        url = re.search(pattern, proc.stdout)
        assert url is not None
        with pytest.raises(requests.ConnectionError):
            requests.get(url.group(1) + "/healthz", timeout=5)


def test_the_sample_data_is_what_the_generator_makes() -> None:
    proc = subprocess.run([sys.executable, "sample_dumps/generate.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
