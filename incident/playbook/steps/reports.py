"""Steps that write reports and evidence into this installation: report, bundle.

Both write only local files (under `$INCIDENT_HOME/reports/` unless `out` says where), so
they are reads as far as the outside world goes. The claim options are the command line's:
claimant, since, until, reference, own (a file of the holder's own order ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from incident.playbook.interface import JSON, Context, Param, Step
from incident.report.interface import file_stem

CLAIM = {
    "claimant": Param("str", default="the account holder"),
    "since": Param("str", help="when the key leaked (the window starts there)"),
    "until": Param("str", help="the window's end (default: the revocation)"),
    "reference": Param("str", default="vwap", choices=("vwap", "open", "close")),
    "own": Param("path", help="a file of the holder's own order ids"),
}


def _claim_options(ctx: Context, args: Mapping[str, Any]) -> Any:
    from incident.report.claim import claim_options

    return claim_options(claimant=str(args.get("claimant") or "the account holder"),
                         since=args.get("since"), until=args.get("until"),
                         own=ctx.path(str(args["own"])) if args.get("own") else None,
                         reference=str(args.get("reference") or "vwap"))


def _out(ctx: Context, args: Mapping[str, Any]) -> Path:
    if args.get("out"):
        return ctx.path(str(args["out"]))
    return ctx.store.path.parent / "reports" / f"run-{ctx.run_id}"


class Report(Step):
    name = "report"
    side_effect = "none"  # files in the data directory (or `out`) only
    summary = "Write a report (exposure, incident or claim) in HTML, Markdown, JSON and PDF."
    params = {
        "kind": Param("str", required=True, choices=("exposure", "incident", "claim")),
        "label": Param("label", help="the key (a claim; an exposure report of one key)"),
        "dump": Param("int", help="an incident report of one dump"),
        "formats": Param("list", default=["html", "md", "json", "pdf"]),
        "out": Param("path", help="the directory (default: $INCIDENT_HOME/reports/run-N)"),
        **CLAIM,
    }

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        from dataclasses import asdict

        from incident.report import render
        from incident.report.kinds import kind

        name = str(args["kind"])
        options: dict[str, Any] = {}
        if name == "claim":
            options = asdict(_claim_options(ctx, args))
        elif name == "incident" and args.get("dump") is not None:
            options = {"dump": int(args["dump"])}
        report = kind(name).build(ctx.store, label=args.get("label"), options=options)
        formats = [str(f) for f in (args.get("formats") or render.FORMATS)]
        paths = render.write(render.render(report, formats), _out(ctx, args), report.stem)
        return {"kind": name, "files": [str(p) for p in paths],
                "summary": f"{name} report: {', '.join(p.name for p in paths)}"}


class Bundle(Step):
    name = "bundle"
    side_effect = "none"
    summary = ("Write a claim's evidence bundle (ZIP with a manifest and its Merkle root), "
               "and the claim report beside it.")
    params = {
        "label": Param("label", required=True),
        "out": Param("path", help="the ZIP (default: $INCIDENT_HOME/reports/run-N/"
                                  "evidence-LABEL.zip)"),
        **CLAIM,
    }

    def run(self, ctx: Context, args: Mapping[str, Any]) -> JSON:
        from incident.report import render
        from incident.report.bundle import claim_bundle

        label = str(args["label"])
        out = (ctx.path(str(args["out"])) if args.get("out") else
               _out(ctx, {}) / f"evidence-{file_stem(label)}.zip")
        out.parent.mkdir(parents=True, exist_ok=True)
        done = claim_bundle(ctx.store, label, out, _claim_options(ctx, args))
        paths = render.write(done.rendered, out.parent, done.report.stem)
        return {"file": str(out), "files": len(done.manifest.files),
                "reports": [str(p) for p in paths],
                "merkle_root": done.manifest.root,
                "loss_usd": done.report.model["summary"]["headline_usd"],
                "summary": f"evidence bundle {out.name}: {len(done.manifest.files)} files, "
                           f"Merkle root {done.manifest.root[:16]}"}

