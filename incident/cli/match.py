"""`incident match`: registered keys against leaked credentials, by fingerprint."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from incident.cli.output import emit_json, err_console, open_store
from incident.errors import ExitCode
from incident.match import MatchReport, run_match


def match_command(
    ctx: typer.Context,
    dump: int | None = typer.Option(None, "--dump", metavar="ID",
                                    help="Only this dump (default: every dump)."),
    json_out: bool = typer.Option(False, "--json", help="Machine output (JSON) on stdout."),
) -> int:
    """Match every registered key against every leaked credential, by fingerprint (in any
    role: swapped columns still match). Exit 1 when a key is exposed, 0 when none is."""
    with open_store(ctx) as store:
        report = run_match(store, dump)
    if json_out:
        emit_json(report.to_json())
    else:
        _print(report)
    return ExitCode.EXPOSED if report.exposed else ExitCode.OK


def _print(report: MatchReport) -> None:
    console = err_console()
    if report.exposed:
        table = Table("label", "exchange", "leaked", "dumps", "passphrase", "new", "where",
                      box=None)
        for e in report.exposed:
            first = e.sightings[0]
            more = f" (+{len(e.sightings) - 1} more)" if len(e.sightings) > 1 else ""
            phrase = {True: "yes", False: "no", None: "?"}
            passphrase = phrase[next((s.passphrase for s in e.sightings
                                      if s.passphrase is not None), None)]
            agrees = "" if e.exchange_agrees else " (dump says otherwise)"
            cells = (e.label, e.exchange + agrees, e.components,
                     str(len({s.dump_id for s in e.sightings})), passphrase,
                     "new" if e.new else "", first.locator + more)
            table.add_row(*(Text(c) for c in cells))  # labels and names are data: no markup
        console.print(table)
    total = len(report.exposed) + len(report.clean) + len(report.unmatchable)
    since = f" since the last run ({report.previous_run[:19]}Z)" if report.previous_run else ""
    console.print(f"{len(report.exposed):,} of {total:,} registered keys exposed; "
                  f"{report.new:,} new match{'es' if report.new != 1 else ''}{since}",
                  markup=False, highlight=False)
    if report.unmatchable:
        console.print(f"{len(report.unmatchable):,} registered by hmsl fingerprint only: not "
                      "comparable with the corpus's SHA-256 fingerprints",
                      markup=False, highlight=False)
