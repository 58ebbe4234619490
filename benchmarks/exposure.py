"""Benchmark: the exposure service (issue 4).

1. hmsl hashing. N leaked values (N/2 Binance-shaped key/secret records) fingerprinted
   by `incident ingest --hmsl` (the whole ingest, timed as a process) and by
   `ggshield hmsl fingerprint` (one value a line; ggshield's own virtual environment),
   one after the other in the same run. Both must give the same N fingerprints.
2. `/v1/prefixes` under load. A corpus of R records (2R values) is ingested; its hmsl
   column is filled with random 32-byte values by SQL (the server treats them as any
   fingerprint; scrypt of 2R real values would take minutes and change nothing it does).
   `incident serve` runs as a process (one worker, then two; without and with its access
   log); wrk (a second process, one thread, C connections) posts for D seconds, each
   request a fresh set of P random prefixes (ggshield sends 10), after a 2 s warm-up.

    .venv/bin/python benchmarks/exposure.py [--values 100000] [--records 100000]
        [--duration 30] [--prefixes 10] [--connections 16] [--skip-hmsl] [--skip-load]

Targets: hmsl rate at least 1.8x ggshield's; at least 1,500 requests/s with p99 under
50 ms and no errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from common import alnum, run  # noqa: E402
from loopback import incident_serve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GGSHIELD = ROOT / ".venv-ggshield" / "bin" / "ggshield"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = %d
request = function()
  local p = {}
  for i = 1, n do p[i] = string.format('"%%05x"', math.random(0, 1048575)) end
  return wrk.format(nil, nil, nil, '{"prefixes":[' .. table.concat(p, ",") .. ']}')
end
"""


def incident(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "incident", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)


def bench_hmsl(folder: Path, values: int) -> dict[str, object]:
    dump, lines = folder / "hmsl.csv", folder / "values.txt"
    with open(dump, "w") as d, open(lines, "w") as v:
        d.write("id,exchange,api_key,api_secret\n")
        for i in range(values // 2):
            key, secret = alnum(64), alnum(64)
            d.write(f"{i},binance,{key},{secret}\n")
            v.write(f"{key}\n{secret}\n")
    env = {**os.environ, "INCIDENT_HOME": str(folder / "hmsl-home")}
    ours_s, ours_mb = run([sys.executable, "-m", "incident", "ingest", "--hmsl", str(dump)],
                          env)
    gg_dir = folder / "gg"
    gg_dir.mkdir()
    gg_env = {k: v for k, v in os.environ.items() if not k.startswith("GITGUARDIAN")}
    gg_env["HOME"] = str(gg_dir)
    cwd = os.getcwd()
    os.chdir(gg_dir)  # ggshield writes payload.txt and mapping.txt here
    try:
        gg_s, gg_mb = run([str(GGSHIELD), "hmsl", "fingerprint", "--no-check-for-updates",
                           str(lines)], gg_env)
    finally:
        os.chdir(cwd)
    theirs = {line.split(":", 1)[0] for line in (gg_dir / "mapping.txt").read_text()
              .splitlines()}
    db = sqlite3.connect(folder / "hmsl-home" / "incident.db")
    ours = {bytes(h).hex() for row in db.execute("SELECT key_hmsl, secret_hmsl FROM leaks")
            for h in row}
    db.close()
    if ours != theirs or len(ours) != values:
        sys.exit(f"fingerprints differ: {len(ours)} ours, {len(theirs)} ggshield's, "
                 f"{len(ours & theirs)} shared")
    return {"values": values, "incident_ingest_hmsl_s": round(ours_s, 1),
            "incident_values_per_s": round(values / ours_s), "incident_peak_rss_mb":
            round(ours_mb), "ggshield_fingerprint_s": round(gg_s, 1),
            "ggshield_values_per_s": round(values / gg_s), "ggshield_peak_rss_mb":
            round(gg_mb), "rate_ratio": round(gg_s / ours_s, 2), "same_fingerprints": True}


def bench_load(folder: Path, records: int, duration: int, prefixes: int,
               connections: int, access_log: bool, workers: int) -> dict[str, object]:
    home = folder / "load-home"
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    if not (home / "incident.db").exists():
        dump = folder / "load.csv"
        with open(dump, "w") as d:
            d.write("id,exchange,api_key,api_secret\n")
            for i in range(records):
                d.write(f"{i},binance,{alnum(64)},{alnum(64)}\n")
        incident("ingest", str(dump), env=env)
        db = sqlite3.connect(home / "incident.db")
        with db:
            db.execute("UPDATE leaks SET key_hmsl = randomblob(32), "
                       "secret_hmsl = randomblob(32)")
        db.close()
    script = folder / f"prefixes-{prefixes}.lua"
    script.write_text(LUA % prefixes)
    args = ["--rate-limit", str(10**12), "--workers", str(workers)] + (
        [] if access_log else ["--no-access-log"])
    with incident_serve(args, env, folder / "serve.log", timeout=120) as (url, server):
        subprocess.run(["wrk", "-t1", "-c4", "-d2s", "-s", str(script),
                        url + "/v1/prefixes"], check=True, capture_output=True)  # warm-up
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s",
                              "--latency", "-s", str(script), url + "/v1/prefixes"],
                             check=True, capture_output=True, text=True).stdout
        rss = _peak_rss_mb(server.pid)  # the parent's (a worker's is about the same)
    return {"records": records, "values": 2 * records, "prefixes_per_request": prefixes,
            "connections": connections, "duration_s": duration, "workers": workers,
            "access_log": access_log,
            **_parse_wrk(out), "server_peak_rss_mb": rss, "load_tool": "wrk 4.1.0, 1 thread"}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return 0.0


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def _parse_wrk(out: str) -> dict[str, object]:
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return {"requests": requests, "requests_per_s": round(rate), "p50_ms": pct["50"],
            "p90_ms": pct["90"], "p99_ms": pct["99"],
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, socket.groups())) if socket else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--prefixes", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-hmsl", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-exposure-") as tmp:
        folder = Path(tmp)
        if not args.skip_load:
            for name, workers, logged in (("load_1_worker", 1, False),
                                          ("load_2_workers", 2, False),
                                          ("load_2_workers_access_log", 2, True)):
                result[name] = bench_load(folder, args.records, args.duration,
                                          args.prefixes, args.connections, logged, workers)
        if not args.skip_hmsl:
            result["hmsl"] = bench_hmsl(folder, args.values)
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "exposure.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
