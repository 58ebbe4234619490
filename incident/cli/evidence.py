"""`incident evidence bundle LABEL OUT.zip | verify FILE.zip`: write a claim's evidence
bundle; check one byte for byte.

Exit codes: 0 written / every file is as listed and the root holds; 1 a problem found
(each one named); 2 usage (a --root that is no SHA-256); 3 a file that is no readable ZIP
file, or stored data that makes no claim (no such label, no snapshot); 4 the PDF renderer
is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from incident.cli import report as rc
from incident.cli.output import emit_json, open_store, say
from incident.errors import ExitCode, UsageError
from incident.report import evidence as lib

app = typer.Typer(help="Evidence bundles: write and verify.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., metavar="FILE.zip", help="The bundle to check."),
    root: str | None = typer.Option(None, "--root", metavar="HEX", help="The Merkle root "
                                    "given with the bundle (in the claim, a letter): the "
                                    "manifest must hash to it."),
    json_out: bool = typer.Option(False, "--json", help="Machine output (JSON) on stdout."),
) -> int:
    """Verify an evidence bundle: every file against manifest.json's SHA-256 and size,
    the manifest against its Merkle root (RFC 9162), raw responses against their
    snapshot.json, audit-log exports against their hash chain. Exit 0 intact, 1 not."""
    if root is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", root):
        raise UsageError("--root: not a SHA-256 Merkle root (64 hex digits)")
    verdict = lib.verify_bundle(file, root)
    if json_out:
        emit_json({"ok": verdict.ok, "files": verdict.files, "root": verdict.root,
                   "problems": [{"path": p.path, "kind": p.kind, "message": p.message}
                                for p in verdict.problems]})
    elif verdict.ok:
        say(f"bundle intact: {verdict.files} files, Merkle root {verdict.root}")
    else:
        noun = "problem" if len(verdict.problems) == 1 else "problems"
        say(f"bundle FAILED: {len(verdict.problems)} {noun}")
        for p in verdict.problems:
            say(f"  {p.kind}: {p.path} ({p.message})")
    return ExitCode.OK if verdict.ok else ExitCode.EXPOSED


@app.command("bundle")
def bundle(
    ctx: typer.Context,
    label: str = typer.Argument(..., help="The registered key's label."),
    out: Path = typer.Argument(..., metavar="OUT.zip", help="The bundle to write."),
    claimant: str = rc.CLAIMANT, remedy: str | None = rc.REMEDY, since: str | None = rc.SINCE,
    until: str | None = rc.UNTIL, own: Path | None = rc.OWN, reference: str = rc.REFERENCE,
    vwap_minutes: int = rc.VWAP_MINUTES,
    json_out: bool = typer.Option(False, "--json", help="Machine output (JSON) on stdout."),
) -> int:
    """Write a claim's evidence bundle: the claim report in every format, trades.csv, each
    snapshot with its raw responses and candles, the key's audit-log excerpt, and
    manifest.json (each file's SHA-256, size, source, collection time) under an RFC 9162
    Merkle root, which is also written to the audit log. Options as `report claim`."""
    from incident.report.bundle import claim_bundle
    from incident.report.claim import claim_options

    opts = claim_options(claimant=claimant, remedy=remedy, since=since, until=until, own=own,
                         reference=reference, vwap_minutes=vwap_minutes)
    if out.suffix.lower() != ".zip":
        raise UsageError("OUT.zip: give the bundle a .zip name")
    with open_store(ctx) as store:
        done = claim_bundle(store, label, out, opts)
    summary = done.report.model["summary"]
    if json_out:
        emit_json({"file": str(out), "files": len(done.manifest.files),
                   "merkle_root": done.manifest.root, "loss_usd": summary["headline_usd"],
                   "range_usd": [summary["low_usd"], summary["high_usd"]]})
    say(f"wrote {out}: {len(done.manifest.files)} files, Merkle root {done.manifest.root}")
    say(f"  claim: USD(T) {summary['headline_usd']} (range {summary['low_usd']} to "
        f"{summary['high_usd']}); check it with: incident evidence verify {out}")
    return ExitCode.OK
