"""Benchmark: `incident evidence verify` of a ~100 MB evidence bundle.

The bundle (generated fresh under benchmarks/out/evidence/, never committed): --big files
of random, incompressible bytes (what a PDF or a compressed candle archive costs: Deflate
gains nothing, so every byte is read, inflated, CRC-checked and SHA-256ed) making up
--size-mb between them, --small small JSON files (reports, responses), and a snapshot:
snapshot.json listing --raw raw responses beside it, plus a --audit-entry audit-log export.
It is written once by `write_bundle` (timed too), then verified --repeat times by
`verify_bundle` in this process, and --repeat times by `incident evidence verify` as a
process (wall clock, peak RSS: start-up included). The file is in the page cache for all of
them: this measures the work, not the disk.

    .venv/bin/python benchmarks/evidence_verify.py [--size-mb 100] [--big 40] [--small 300]
        [--raw 200] [--audit-entries 1000] [--repeat 3]

Target: verify under 5 s, each run, library and process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import run  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent.parent))
from incident import __version__, audit  # noqa: E402
from incident.report.evidence import BundleFile, verify_bundle, write_bundle  # noqa: E402
from incident.settings import Settings  # noqa: E402
from incident.store import Store  # noqa: E402

AT = "2026-03-01T12:00:00Z"
TARGET_S = 5.0


def generate(work: Path, args: argparse.Namespace) -> list[BundleFile]:
    files: list[BundleFile] = []
    per = args.size_mb * (1 << 20) // args.big
    for i in range(args.big):
        path = work / f"big-{i:03d}.bin"
        with open(path, "wb") as f:
            for _ in range(per >> 20):
                f.write(os.urandom(1 << 20))
            f.write(os.urandom(per % (1 << 20)))
        files.append(BundleFile(f"attachments/{path.name}", path, "generated", AT))
    for i in range(args.small):
        body = json.dumps({"id": i, "rows": [[i, j, f"{j * 1.5:.2f}"] for j in range(20)]})
        files.append(BundleFile(f"report/part-{i:04d}.json", body.encode(), "generated", AT))
    snap = "snapshots/bench/20260301T110000000Z"
    responses = []
    for i in range(1, args.raw + 1):
        raw = json.dumps([{"id": j, "price": f"{100 + j}.5"} for j in range(50)]).encode()
        responses.append({"endpoint": "GET /api/v3/myTrades", "fetched_at": AT, "status": 200,
                          "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw),
                          "redacted": False, "file": f"raw/{i:04d}.json"})
        files.append(BundleFile(f"{snap}/raw/{i:04d}.json", raw, "binance GET myTrades", AT))
    files.append(BundleFile(f"{snap}/snapshot.json", json.dumps(
        {"label": "bench", "responses": responses}).encode(), "binance snapshot", AT))
    with Store.open(Settings(work / "home")) as store:
        with store.write() as conn:
            for i in range(args.audit_entries):
                audit.append(conn, action="snapshot", phase="read", label="bench",
                             exchange="binance", outcome="ok", detail={"n": i})
        audit.export(store.conn, work / "audit.jsonl")
    files.append(BundleFile("audit/bench.jsonl", work / "audit.jsonl", "audit log", AT))
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--big", type=int, default=40)
    ap.add_argument("--small", type=int, default=300)
    ap.add_argument("--raw", type=int, default=200)
    ap.add_argument("--audit-entries", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = ap.parse_args()
    work = args.out / "evidence"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = generate(work, args)
    bundle = work / "bundle.zip"
    start = time.perf_counter()
    manifest = write_bundle(bundle, files, created_at=AT, tool_version=__version__,
                            subject={"label": "bench", "exchange": "binance"})
    write_s = time.perf_counter() - start

    lib_s = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        verdict = verify_bundle(bundle, manifest.root)
        lib_s.append(time.perf_counter() - start)
        if not verdict.ok:
            sys.exit(f"verify failed: {verdict.problems[:3]}")
    env = dict(os.environ, INCIDENT_HOME=str(work / "home"))
    cmd = [sys.executable, "-m", "incident", "evidence", "verify", str(bundle),
           "--root", manifest.root]
    cli = [run(cmd, env) for _ in range(args.repeat)]
    cli_s = [t for t, _ in cli]
    result = {
        "bundle_mb": round(bundle.stat().st_size / (1 << 20), 1),
        "files": len(manifest.files), "big_files": args.big, "repeat": args.repeat,
        "write_s": round(write_s, 2),
        "verify_s_each": [round(t, 3) for t in lib_s],
        "verify_s_best": round(min(lib_s), 3),
        "verify_mb_per_s": round(bundle.stat().st_size / (1 << 20) / min(lib_s)),
        "cli_s_each": [round(t, 3) for t in cli_s],
        "cli_s_median": round(statistics.median(cli_s), 3),
        "cli_peak_rss_mb": round(max(r for _, r in cli), 1),
        "target": f"every verify (library and process) < {TARGET_S} s",
    }
    result["pass"] = max(lib_s + cli_s) < TARGET_S
    (args.out / "evidence_verify.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':24}{'each run (s)':>28}{'best':>8}")
    print(f"{'write_bundle':24}{result['write_s']:>28}{result['write_s']:>8}")
    for label, times in (("verify_bundle", lib_s), ("incident evidence verify", cli_s)):
        each = " ".join(f"{t:.3f}" for t in times)
        print(f"{label:24}{each:>28}{min(times):>8.3f}")
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    if not result["pass"]:
        sys.exit(f"FAILED: a verify took {max(lib_s + cli_s):.2f} s, target {TARGET_S} s")


if __name__ == "__main__":
    main()
