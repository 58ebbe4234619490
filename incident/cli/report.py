"""`incident report exposure | incident | claim LABEL`: reports in HTML, Markdown, JSON and
PDF, written to --out (default ./reports). The same data gives the same HTML, Markdown and
JSON, byte for byte: the time in a report is its data's newest ($SOURCE_DATE_EPOCH sets it).

Exit codes: 0 written; 2 usage; 3 what is stored does not make the report (no such label,
no snapshot, a snapshot changed since it was taken); 4 the PDF renderer is missing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer

from incident.cli.output import emit_json, open_store, say
from incident.errors import ExitCode, UsageError

app = typer.Typer(help="Reports: exposure (a user), incident (a responder), claim (a "
                       "claimant).", no_args_is_help=True, pretty_exceptions_show_locals=False)

OUT = typer.Option(Path("reports"), "--out", metavar="DIR", help="Where the files go.")
FORMATS = typer.Option("html,md,json,pdf", "--format", metavar="LIST",
                       help="Comma-separated: html, md, json, pdf.")
JSON = typer.Option(False, "--json", help="List the files written (JSON) on stdout.")
SINCE = typer.Option(None, "--since", metavar="TIME", help="When the key leaked, if known "
                     "(ISO UTC): the window starts there. Else at the first flagged order.")
UNTIL = typer.Option(None, "--until", metavar="TIME", help="The window's end (default: the "
                     "revocation in the audit log, else the snapshot's end).")
OWN = typer.Option(None, "--own", metavar="FILE", help="The account holder's own orders: one "
                   "order id or client order id per line; left out of the claim.")
REFERENCE = typer.Option("vwap", "--reference", help="The headline reference price: vwap "
                         "(pre-incident VWAP), open (the fill minute's open) or close (the "
                         "last close before the window). The range covers all three.")
VWAP_MINUTES = typer.Option(30, "--vwap-minutes", min=1, max=1440,
                            help="Minutes of candles before the window in the VWAP.")
CLAIMANT = typer.Option("the account holder", "--claimant", metavar="NAME",
                        help="Who claims (printed in the header).")
REMEDY = typer.Option(None, "--remedy", metavar="TEXT", help="The remedy asked, in your words "
                      "(default: reimbursement of the shortfall).")


def _formats(text: str) -> list[str]:
    from incident.report.render import FORMATS as KNOWN

    wanted = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in wanted if f not in KNOWN]
    if bad or not wanted:
        raise UsageError(f"--format: {', '.join(bad) or 'none given'}; known: "
                         f"{', '.join(KNOWN)}")
    return wanted


def _write(ctx: typer.Context, kind: str, label: str | None, options: Any, out: Path,
           formats: str, json_out: bool) -> int:
    from incident.report import render
    from incident.report.kinds import kind as report_kind

    wanted = _formats(formats)
    with open_store(ctx) as store:
        report = report_kind(kind).build(store, label=label, options=options)
    paths = render.write(render.render(report, wanted), out, report.stem)
    if json_out:
        emit_json([{"format": p.suffix[1:], "path": str(p),
                    "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in paths])
    for p in paths:
        say(f"wrote {p}")
    return ExitCode.OK


@app.command("exposure")
def exposure(ctx: typer.Context,
             label: str | None = typer.Option(None, "--label", help="Only this key."),
             out: Path = OUT, formats: str = FORMATS, json_out: bool = JSON) -> int:
    """For a user: which of your keys are in which dumps, their status, what to do now."""
    return _write(ctx, "exposure", label, {}, out, formats, json_out)


@app.command("incident")
def incident(ctx: typer.Context,
             dump: int | None = typer.Option(None, "--dump", metavar="ID",
                                             help="Only what this dump exposed."),
             out: Path = OUT, formats: str = FORMATS, json_out: bool = JSON) -> int:
    """For a responder (after NIST SP 800-61): summary, timeline, indicators, affected keys
    per exchange, actions and their status, what is pending, the evidence."""
    return _write(ctx, "incident", None, {"dump": dump} if dump is not None else {}, out,
                  formats, json_out)


@app.command("claim")
def claim(ctx: typer.Context,
          label: str = typer.Argument(..., help="The registered key's label."),
          claimant: str = CLAIMANT, remedy: str | None = REMEDY, since: str | None = SINCE,
          until: str | None = UNTIL, own: Path | None = OWN, reference: str = REFERENCE,
          vwap_minutes: int = VWAP_MINUTES,
          no_charts: bool = typer.Option(False, "--no-charts", help="Leave the charts out."),
          out: Path = OUT, formats: str = FORMATS, json_out: bool = JSON) -> int:
    """For a claimant: the unauthorized trades, the loss against reference prices with its
    range, the timeline, the evidence and how to verify it."""
    from dataclasses import asdict

    from incident.report.claim import claim_options

    opts = claim_options(claimant=claimant, remedy=remedy, since=since, until=until, own=own,
                         reference=reference, vwap_minutes=vwap_minutes)

    options = {**asdict(opts), "charts": not no_charts}
    return _write(ctx, "claim", label, options, out, formats, json_out)
