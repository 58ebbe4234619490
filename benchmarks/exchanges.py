"""Exchange actions against the simulated exchange (`incident sim-exchange` on loopback).

1. Snapshot: `incident snapshot binance-busy` as a process, the simulator's busy account
   holding --trades trades (default 10,000) across 20 pairs; the whole window.
2. Bulk revoke and verify: --keys sub-account keys (default 1,000) revoked through the
   platform's master key (Binance `DELETE /sapi/v1/sub-account/subAccountApi`), each then
   verified dead with its own key, with one Pacer shared by the run (as a bulk response
   shares it), against a simulator allowing --limit weight per --window seconds per key.
   Reports the master key's achieved request rate against the allowed rate and the
   simulator's count of requests refused for rate (must be 0).

    .venv/bin/python benchmarks/exchanges.py [--trades N] [--keys N] [--limit W] [--window S]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import loopback  # noqa: E402


def credentials_csv(accounts: list[dict[str, str]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["exchange", "label", "api_key", "api_secret"])
        for a in accounts:
            w.writerow([a["exchange"], a["label"], a["api_key"], a["api_secret"]])
    os.chmod(path, 0o600)


def incident(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "incident", *args], env=env, text=True,
                          capture_output=True, check=True, cwd=ROOT)


def snapshot(tmp: Path, trades: int) -> dict[str, object]:
    env = {**os.environ, "INCIDENT_HOME": str(tmp / "snap-home")}
    accounts_file = tmp / "snap-accounts.json"
    with loopback.sim_exchange(["--accounts-file", str(accounts_file), "--busy-trades",
                                str(trades), "--no-access-log"], env, tmp / "snap.log") as (
            url, _):
        doc = json.loads(accounts_file.read_text())
        busy = [a for a in doc["accounts"] if a["role"] == "busy"]
        creds = tmp / "snap-creds.csv"
        credentials_csv(busy, creds)
        incident(env, "keys", "import", str(creds))
        start = time.perf_counter()
        out = incident(env, "snapshot", busy[0]["label"], "--since", "2022-12-10",
                       "--until", "2022-12-21", "--base-url", url, "--credentials",
                       str(creds), "--no-keyring", "--json")
        elapsed = time.perf_counter() - start
        stats = requests.get(url + "/_sim/stats", timeout=10).json()
    result = json.loads(out.stdout)
    return {"seconds": round(elapsed, 2), "trades": result["counts"]["trades"],
            "pairs_asked": len(result["symbols"]),
            "pairs_traded": len(json.loads((Path(result["path"]) / "snapshot.json")
                                           .read_text())["data"]["candles"]),
            "counts": result["counts"],
            "simulator_requests": stats["requests"], "rate_limited": stats["rate_limited"],
            "target_seconds": 15}


def bulk(tmp: Path, keys: int, limit: int, window: int, workers: int) -> dict[str, object]:
    from incident import registry
    from incident.exchanges import actions
    from incident.exchanges.credentials import Sources, resolve
    from incident.exchanges.http import Pacer
    from incident.exchanges.interface import SubAccount
    from incident.settings import Settings
    from incident.store import Store

    home = tmp / "bulk-home"
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    accounts_file = tmp / "bulk-accounts.json"
    with loopback.sim_exchange(["--accounts-file", str(accounts_file), "--subaccounts",
                                str(keys), "--busy-trades", "0", "--rate-limit", str(limit),
                                "--rate-window", str(window), "--no-access-log"], env,
                               tmp / "bulk.log") as (url, _):
        doc = json.loads(accounts_file.read_text())
        master = next(a for a in doc["accounts"] if a["label"] == "binance-platform-master")
        subs = [a for a in doc["accounts"] if a.get("master_label") == master["label"]
                and a["exchange"] == "binance"][:keys]
        creds = tmp / "bulk-creds.csv"
        credentials_csv([master, *subs], creds)
        incident(env, "keys", "import", str(creds))
        store = Store.open(Settings(home))
        sources = Sources(file=creds, env={}, use_keyring=False)
        master_cred = resolve(registry.get_key(store, master["label"]), sources)
        pacer = Pacer()
        targets = [actions.Target(registry.get_key(store, s["label"]),
                                  resolve(registry.get_key(store, s["label"]), sources),
                                  SubAccount(master["label"], master_cred, s["sub_account"]),
                                  url, 10.0, pacer) for s in subs]
        requests.post(url + "/_sim/reset-stats", timeout=10)

        def one(t: actions.Target) -> tuple[str, bool]:
            result = actions.revoke(store_for(), t)
            return result.outcome, actions.verify(store_for(), t).revoked

        stores: dict[int, Store] = {}

        def store_for() -> Store:
            import threading

            ident = threading.get_ident()
            if ident not in stores:
                stores[ident] = Store.open(Settings(home))
            return stores[ident]

        start, wall_start = time.perf_counter(), time.time()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, targets))
        elapsed, wall_end = time.perf_counter() - start, time.time()
        stats = requests.get(url + "/_sim/stats", timeout=10).json()
    master_weight = stats["by_label"][master["label"]]["weight"]
    allowed = limit / window
    achieved = master_weight / elapsed
    # The simulator counts fixed windows aligned to the epoch: a run may use the end of the
    # window it starts in, so weight/elapsed can pass the nominal rate on a short run. The
    # honest ceiling is every window the run touched, each used in full.
    windows = int(wall_end // window) - int(wall_start // window) + 1
    return {"keys": keys, "seconds": round(elapsed, 2),
            "revoked": sum(o == "done" for o, _ in results),
            "verified_dead": sum(v for _, v in results),
            "revocations_counted": sum(stats["revocations"].values()),
            "master_requests": stats["by_label"][master["label"]]["requests"],
            "master_weight": master_weight, "allowed_weight_per_s": allowed,
            "achieved_weight_per_s": round(achieved, 2),
            "share_of_allowed": round(achieved / allowed, 3),
            "windows_touched": windows,
            "share_of_capacity": round(master_weight / (windows * limit), 3),
            "rate_limited": stats["rate_limited"], "simulator_requests": stats["requests"],
            "keys_per_s": round(keys / elapsed, 2), "target_share": 0.9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trades", type=int, default=10_000)
    ap.add_argument("--keys", type=int, default=1_000)
    ap.add_argument("--limit", type=int, default=60, help="weight per window per key")
    ap.add_argument("--window", type=int, default=1, help="seconds (whole)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--skip-snapshot", action="store_true")
    ap.add_argument("--skip-bulk", action="store_true")
    args = ap.parse_args()
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_snapshot:
            report["snapshot"] = snapshot(tmp, args.trades)
            print(json.dumps(report["snapshot"]), flush=True)
        if not args.skip_bulk:
            report["bulk"] = bulk(tmp, args.keys, args.limit, args.window, args.workers)
            print(json.dumps(report["bulk"]), flush=True)
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "exchanges.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
