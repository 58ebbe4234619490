"""The claim report for an account with 10,000 unauthorized trades across 20 pairs: every format (HTML with its charts, Markdown, JSON, PDF). Target < 20 s.

The account is the simulator's `binance-busy` (exactly --trades trades over exactly 20
pairs in the three days before the anchor), snapshotted through ccxt as a user would
(not timed). The claim is then made with `--since` two hours into its history (so the
references have candles before the window), and every later trade counts as
unauthorized: 10,300 trades leave just over 10,000 in the window, and timed two ways: the whole command as a
process (what a user waits for), and its parts in this process (build, each format).
Then the evidence bundle of that claim is written and verified (`incident evidence
bundle` / `verify`, timed as processes). The verify of a 100 MB bundle is
benchmarks/evidence_verify.py.

    .venv/bin/python benchmarks/reports.py [--trades N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.exchanges import credentials_csv, incident  # noqa: E402
from scripts import loopback  # noqa: E402

SINCE = "2022-12-17T10:00:00Z"  # two hours into the account's history: references before it
UNTIL = "2022-12-20T08:00:00Z"


def prepare(tmp: Path, trades: int) -> tuple[dict[str, str], str]:
    env = {**os.environ, "INCIDENT_HOME": str(tmp / "home")}
    accounts_file = tmp / "accounts.json"
    with loopback.sim_exchange(["--accounts-file", str(accounts_file), "--busy-trades",
                                str(trades), "--victims", "0", "--subaccounts", "0",
                                "--no-access-log"], env, tmp / "sim.log") as (url, _):
        doc = json.loads(accounts_file.read_text())
        busy = [a for a in doc["accounts"] if a["role"] == "busy"]
        creds = tmp / "creds.csv"
        credentials_csv(busy, creds)
        incident(env, "keys", "import", str(creds))
        start = time.perf_counter()
        incident(env, "snapshot", busy[0]["label"], "--since", "2022-12-17",
                 "--until", "2022-12-21", "--base-url", url, "--credentials", str(creds),
                 "--no-keyring")
        print(f"snapshot (not part of the figure): {time.perf_counter() - start:.1f} s",
              flush=True)
    return env, busy[0]["label"]


def in_process(env: dict[str, str], label: str) -> dict[str, float]:
    os.environ["INCIDENT_HOME"] = env["INCIDENT_HOME"]
    from incident.report import render
    from incident.report.claim import ClaimOptions, build_claim
    from incident.settings import Settings
    from incident.store import Store

    parts: dict[str, float] = {}
    start = time.perf_counter()
    with Store.open(Settings.from_env()) as store:
        report = build_claim(store, label, ClaimOptions(since=SINCE, until=UNTIL))
    parts["build (analysis, valuation, charts)"] = time.perf_counter() - start
    for fmt in render.FORMATS:
        t = time.perf_counter()
        out = render.render(report, [fmt])
        parts[f"{fmt} ({len(out[fmt]) / 1e6:.1f} MB)"] = time.perf_counter() - t
    parts["trades"] = float(len(report.model["trades"]))
    parts["pairs"] = float(len(report.model["pairs"]))
    parts["charts"] = float(len(report.charts))
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trades", type=int, default=10_300,
                    help="the account's trades; about 97%% fall in the window")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    result: dict[str, object] = {"trades": args.trades, "target_seconds": 20}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env, label = prepare(tmp, args.trades)
        walls = []
        for n in range(args.runs):
            start = time.perf_counter()
            incident(env, "report", "claim", label, "--since", SINCE, "--until", UNTIL,
                     "--out", str(tmp / f"out-{n}"))
            walls.append(time.perf_counter() - start)
            print(f"run {n + 1}: incident report claim (all formats) {walls[-1]:.2f} s",
                  flush=True)
        same = {p.name: p.read_bytes() for p in (tmp / "out-0").iterdir()}
        again = {p.name: p.read_bytes() for p in (tmp / f"out-{args.runs - 1}").iterdir()}
        result["byte_identical"] = {k: same[k] == again[k] for k in sorted(same)}
        result["sizes_bytes"] = {k: len(v) for k, v in sorted(same.items())}
        result["wall_seconds"] = [round(w, 2) for w in walls]
        result["median_seconds"] = round(statistics.median(walls), 2)
        parts = in_process(env, label)
        result["parts_seconds"] = {k: round(v, 2) for k, v in parts.items()}
        start = time.perf_counter()
        incident(env, "evidence", "bundle", label, str(tmp / "claim.zip"), "--since", SINCE,
                 "--until", UNTIL)
        result["bundle_seconds"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        incident(env, "evidence", "verify", str(tmp / "claim.zip"))
        result["verify_seconds"] = round(time.perf_counter() - start, 2)
        result["bundle_bytes"] = (tmp / "claim.zip").stat().st_size
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "reports.json").write_text(json.dumps(result, indent=2) + "\n")
    ok = result["median_seconds"] < 20  # type: ignore[operator]
    print(f"claim report, {args.trades:,} trades, all formats: median "
          f"{result['median_seconds']} s (target < 20 s): {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
