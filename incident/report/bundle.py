"""`incident evidence bundle LABEL OUT.zip`: what goes into a claim's evidence pack.

    report/claim-LABEL.{html,md,json,pdf}   the claim report, every format
    report/trades.csv                       the unauthorized-trade table, whole
    snapshots/TIME/snapshot.json            each snapshot as taken (its recorded SHA-256)
    snapshots/TIME/raw/NNNN.json            each raw exchange response, byte for byte
    candles/SYMBOL.csv                      the 1-minute candles the references came from
    audit/LABEL.jsonl                       the audit-log excerpt (others' entries as hash
                                            stubs, so the chain still verifies)
    manifest.json, VERIFY.txt               written by evidence.write_bundle

The bundle is made once the report is built; its Merkle root is then written to the audit
log, so the root itself is on record in the hash chain.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident import __version__, audit
from incident.report import render
from incident.report.claim import ClaimOptions, build_claim, load_snapshots, trades_csv
from incident.errors import Place
from incident.report.evidence import (BundleFile, EvidenceError, Manifest, verify_bundle,
                                      write_bundle)
from incident.report.interface import Report, file_stem, ms_to_utc, to_utc
from incident.store import Store


@dataclass(frozen=True)
class Bundled:
    path: Path
    report: Report
    manifest: Manifest
    rendered: dict[str, bytes]  # the claim report in each format, as bundled


def claim_bundle(store: Store, label: str, out: Path, opts: ClaimOptions) -> Bundled:
    from incident import registry

    key = registry.get_key(store, label)
    report = build_claim(store, label, opts)
    when = str(report.model["generated_at"])
    rendered = render.render(report)
    files = [BundleFile(f"report/{report.stem}.{ext}", data, "incident report claim", when)
             for ext, data in rendered.items()]
    files.append(BundleFile("report/trades.csv", trades_csv(report),
                            "incident report claim: the unauthorized trades", when))
    for snap in load_snapshots(store, label):
        files += list(_snapshot_files(store, snap))
    with tempfile.TemporaryDirectory(prefix="incident-bundle-") as tmp:
        excerpt = Path(tmp) / "audit.jsonl"
        audit.export(store.conn, excerpt, label)
        files.append(BundleFile(f"audit/{file_stem(label)}.jsonl",
                                excerpt.read_bytes(), "incident audit export --label", when))
    manifest = write_bundle(out, files, created_at=when, tool_version=__version__,
                            subject={"kind": "claim", "label": label,
                                     "exchange": key.exchange, "claimant": opts.claimant})
    verdict = verify_bundle(out, manifest.root)  # what anyone will check, checked first
    if not verdict.ok:
        out.unlink(missing_ok=True)
        raise EvidenceError(f"the bundle did not verify ({verdict.problems[0].path}: "
                            f"{verdict.problems[0].kind}); nothing was kept", Place(str(out)))
    with store.write() as conn:
        audit.append(conn, action="evidence-bundle", phase="end", label=label,
                     exchange=key.exchange, key_sha256=key.key_sha256 or key.key_hmsl,
                     outcome="ok", detail={"file": out.name, "files": len(manifest.files),
                                           "merkle_root": manifest.root})
    return Bundled(out, report, manifest, rendered)


def _snapshot_files(store: Store, snap: dict[str, Any]) -> Iterator[BundleFile]:
    directory = store.path.parent / snap["rel"]
    prefix = f"snapshots/{Path(snap['rel']).name}"
    taken = to_utc(snap["taken_at"])
    exchange = snap["doc"]["exchange"]
    # the bytes whose SHA-256 was checked against the record, not the file read again
    yield BundleFile(f"{prefix}/snapshot.json", snap["bytes"],
                     f"incident snapshot ({exchange}; sha256 recorded when taken)", taken)
    for r in snap["doc"]["responses"]:
        raw = _raw(directory / r["file"], r["sha256"], f"{snap['rel']}/{r['file']}")
        yield BundleFile(f"{prefix}/{r['file']}", raw, f"{exchange} {r['endpoint']}",
                         to_utc(r["fetched_at"]))
    for symbol, rows in sorted(snap["doc"]["data"]["candles"].items()):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["time", "open", "high", "low", "close", "volume"])
        for row in rows:
            w.writerow([ms_to_utc(int(row[0])), *(repr(v) for v in row[1:6])])
        yield BundleFile(f"{prefix}/candles/{symbol.replace('/', '-').replace(':', '-')}.csv",
                         buf.getvalue().encode("utf-8"),
                         f"{exchange} 1-minute klines, from {prefix}/snapshot.json", taken)


def _raw(path: Path, sha256: str, shown: str) -> bytes:
    """A raw response as its snapshot.json lists it, or EvidenceError naming it."""
    import hashlib

    try:
        data = path.read_bytes()
    except OSError:
        raise EvidenceError("missing: the snapshot lists it", Place(shown)) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise EvidenceError("changed since the snapshot was taken (its SHA-256 is not the "
                            "one snapshot.json records)", Place(shown))
    return data
