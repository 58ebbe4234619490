"""Benchmark: `incident ingest` of a generated dump of N Binance-shaped records.

The dump is a 3Commas-style CSV (`id,user_id,exchange,api_key,api_secret`: 64+64 random
letters and digits, about 160 bytes a record), generated fresh and never committed.

The ingest leaves the two lookup indexes (by key and by secret fingerprint) to the first
lookup; `index_build_s` is what building them then takes, reported beside the ratio with
`ingest_plus_index_ratio`, so nothing is hidden.

Baseline, same run: read the same CSV with the csv module and SHA-256 the two fields with
hashlib, nothing else. Each side runs --repeat times, alternating, into a fresh data
directory each time; medians are compared. Peak RSS is ru_maxrss of the ingest process
(wait4 also covers the reading children it forks and reaps).

With --detect-secrets, the same file also goes through `detect-secrets scan --all-files`
(install it with `pip install -e '.[bench]'`): its time and how many of the records it
flags. It reads about 1,000 records a second here, so a million take about 18 minutes.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--repeat 3] [--detect-secrets]

Targets (issue 3): ingest time at most 2x the baseline's; peak RSS under 300 MB at
1,000,000 and at 5,000,000 records.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import alnum, alternate, baseline, run  # noqa: E402

INDEX = """
from incident.ingest.dumps import ensure_indexes
from incident.settings import Settings
from incident.store import Store
with Store.open(Settings.from_env()) as store:
    ensure_indexes(store)
"""


def generate(path: Path, rows: int) -> None:
    with open(path, "w") as f:
        f.write("id,user_id,exchange,api_key,api_secret\n")
        for i in range(rows):
            f.write(f"{i + 1},{100000 + i * 7},binance,{alnum(64)},{alnum(64)}\n")


def detect_secrets(path: Path, timeout: float) -> dict[str, object]:
    exe = Path(sys.executable).parent / "detect-secrets"
    if not exe.exists():
        return {"skipped": "detect-secrets is not installed (pip install -e '.[bench]')"}
    start = time.perf_counter()
    try:
        out = subprocess.run([str(exe), "scan", "--all-files", path.name], cwd=path.parent,
                             capture_output=True, timeout=timeout, check=True).stdout
    except subprocess.TimeoutExpired:
        return {"timed_out_after_s": timeout}
    elapsed = time.perf_counter() - start
    found = json.loads(out)["results"]
    lines = {item["line_number"] for items in found.values() for item in items}
    return {"seconds": round(elapsed, 1), "records_flagged": len(lines),
            "findings": sum(len(items) for items in found.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--detect-secrets", action="store_true")
    ap.add_argument("--detect-secrets-timeout", type=float, default=3600)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = ap.parse_args()
    found = None
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "dump.csv"
        generate(csv_path, args.rows)
        home = Path(tmp) / "home"
        env = dict(os.environ, INCIDENT_HOME=str(home))
        base, ours = alternate(  # every ingest into an empty corpus
            baseline(3, 4) + [str(csv_path)],
            [sys.executable, "-m", "incident", "ingest", str(csv_path)], env, args.repeat,
            lambda: shutil.rmtree(home, ignore_errors=True))
        listed = subprocess.run([sys.executable, "-m", "incident", "dumps", "list", "--json"],
                                env=env, capture_output=True, check=True).stdout
        found = json.loads(listed)[0]["credentials"]
        # The lookup indexes a bulk ingest leaves to the first lookup: what building them
        # costs (a process that opens the store and builds them, nothing else).
        first_lookup = run([sys.executable, "-c", INDEX], env)[0]
        ds = detect_secrets(csv_path, args.detect_secrets_timeout) if args.detect_secrets \
            else None
        size_mb = csv_path.stat().st_size / 1e6
    base_t = statistics.median(t for t, _ in base)
    ours_t = statistics.median(t for t, _ in ours)
    ours_rss = max(r for _, r in ours)
    result: dict[str, object] = {
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        "repeat": args.repeat,
        "ingest_s_each": [round(t, 2) for t, _ in ours],
        "baseline_s_each": [round(t, 2) for t, _ in base],
        "baseline_s": round(base_t, 2),
        "ingest_s": round(ours_t, 2),
        "ingest_records_per_s": round(args.rows / ours_t),
        "ratio": round(ours_t / base_t, 2),
        "ingest_peak_rss_mb": round(ours_rss, 1),
        "baseline_peak_rss_mb": round(max(r for _, r in base), 1),
        "credentials_found": found,
        "index_build_s": round(first_lookup, 2),  # left to the first lookup
        "ingest_plus_index_ratio": round((ours_t + first_lookup) / base_t, 2),
        "detect_secrets": ds,
        "target": "ratio <= 2.0 and ingest_peak_rss_mb < 300",
    }
    result["pass"] = ours_t / base_t <= 2.0 and ours_rss < 300 and found == args.rows
    args.out.mkdir(exist_ok=True)
    (args.out / f"ingest_{args.rows}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
