"""Benchmark: `incident keys import` of N plaintext rows against a same-run baseline.

Baseline: read the same CSV with the csv module and SHA-256 both columns with hashlib,
nothing else. Both run as child processes; wall time and peak RSS (ru_maxrss of the child)
are measured for each. Keys are random hex, generated fresh (never committed).

    .venv/bin/python benchmarks/keys_import.py [--rows 1000000] [--repeat 3]

Each side runs --repeat times, alternating, into a fresh data directory each time; the
medians are reported. Peak RSS is the import process's (wait4 also covers the reader child
it forks and reaps).

Targets (issue 2): import time at most 3x the baseline's; peak RSS under 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import alternate, baseline  # noqa: E402

def generate(path: Path, rows: int) -> None:
    with open(path, "w") as f:
        f.write("exchange,label,api_key,api_secret\n")
        for i in range(rows):
            f.write(f"binance,user-{i:08d},{os.urandom(32).hex()},{os.urandom(32).hex()}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "keys.csv"
        generate(csv_path, args.rows)
        home = Path(tmp) / "home"
        env = dict(os.environ, INCIDENT_HOME=str(home))
        base, ours = alternate(  # every import into an empty registry
            baseline(2, 3) + [str(csv_path)],
            [sys.executable, "-m", "incident", "keys", "import", str(csv_path)], env,
            args.repeat, lambda: shutil.rmtree(home, ignore_errors=True))
        size_mb = csv_path.stat().st_size / 1e6
    base_t = statistics.median(t for t, _ in base)
    ours_t = statistics.median(t for t, _ in ours)
    base_rss = max(r for _, r in base)
    ours_rss = max(r for _, r in ours)
    result = {
        "rows": args.rows,
        "repeat": args.repeat,
        "import_s_each": [round(t, 2) for t, _ in ours],
        "baseline_s_each": [round(t, 2) for t, _ in base],
        "csv_mb": round(size_mb, 1),
        "baseline_s": round(base_t, 2),
        "baseline_rows_per_s": round(args.rows / base_t),
        "baseline_peak_rss_mb": round(base_rss, 1),
        "import_s": round(ours_t, 2),
        "import_rows_per_s": round(args.rows / ours_t),
        "import_peak_rss_mb": round(ours_rss, 1),
        "ratio": round(ours_t / base_t, 2),
        "target": "ratio <= 3.0 and import_peak_rss_mb < 250",
    }
    result["pass"] = result["ratio"] <= 3.0 and ours_rss < 250
    args.out.mkdir(exist_ok=True)
    (args.out / "keys_import.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
