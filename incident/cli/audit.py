"""`incident audit verify | export | list`: the audit log of exchange actions.

Exit codes: 0 the log is intact; 1 tampering found (every problem is listed); 2 usage; 3 an
unreadable export file (its lines named).
"""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from incident import audit as lib
from incident.cli.output import emit_json, emit_json_list, err_console, open_store, say
from incident.errors import ExitCode, UsageError

app = typer.Typer(help="The audit log: every exchange action, chained by SHA-256.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

JSON = typer.Option(False, "--json", help="Machine output (JSON) on stdout.")


@app.command("verify")
def verify(
    ctx: typer.Context,
    file: Path | None = typer.Option(None, "--file", metavar="EXPORT", help="Verify an "
                                     "export (incident audit export) instead of the database."),
    head: str | None = typer.Option(None, "--head", metavar="SHA256", help="The head known "
                                    "from before (a previous verify or export): catches "
                                    "entries removed from the end."),
    json_out: bool = JSON,
) -> int:
    """Verify the audit log's chain: name every entry edited, deleted, inserted or
    reordered. Exit 0 intact, 1 tampered."""
    if head is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", head):
        raise UsageError("--head: not a SHA-256 (64 hex digits)")
    if file is not None:
        verdict = lib.verify(lib.read_export(file), head, lines=True)
    else:
        with open_store(ctx) as store:
            verdict = lib.verify(lib.entries(store.conn), head)
    if json_out:
        emit_json({"ok": verdict.ok, "count": verdict.count, "omitted": verdict.omitted,
                   "head": verdict.head,
                   "problems": [{"entry": p.entry_id, "line": p.line, "kind": p.kind,
                                 "message": p.message} for p in verdict.problems]})
    elif verdict.ok:
        omitted = f" ({verdict.omitted} of other labels omitted)" if verdict.omitted else ""
        say(f"audit log intact: {verdict.count} entries{omitted}, head {verdict.head}")
    else:
        noun = "problem" if len(verdict.problems) == 1 else "problems"
        say(f"audit log TAMPERED: {len(verdict.problems)} {noun} in {verdict.count} entries")
        for p in verdict.problems:
            say(f"  {file}:{p.line}: {p.message}" if file and p.line else f"  {p.message}")
    return ExitCode.OK if verdict.ok else ExitCode.EXPOSED


@app.command("export")
def export(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE", help="Where to write (JSON Lines)."),
    label: str | None = typer.Option(None, "--label", metavar="LABEL", help="Only this "
                                     "key's entries in full; the others as hashes only, so "
                                     "the file still verifies."),
) -> int:
    """Export the audit log as JSON Lines (one canonical entry a line), atomically and
    private (0600); prints the count and the head to keep for a later verify --head."""
    with open_store(ctx) as store:
        head = lib.export(store.conn, file, label)
    omitted = f" ({head.omitted} of other labels as hashes only)" if head.omitted else ""
    say(f"exported {head.count} entries{omitted} to {file}, head {head.sha256}")
    return ExitCode.OK


@app.command("list")
def list_(
    ctx: typer.Context,
    label: str | None = typer.Option(None, "--label", metavar="LABEL",
                                     help="Only this key's entries."),
    action: str | None = typer.Option(None, "--action", metavar="ACTION",
                                      help="Only this action's (revoke, snapshot, ...)."),
    last: int | None = typer.Option(None, "--last", metavar="N", min=1,
                                    help="Only the last N entries."),
    json_out: bool = JSON,
) -> int:
    """List audit entries: id, time, actor, action, phase, label, outcome."""
    with open_store(ctx) as store:
        rows = lib.entries(store.conn, label=label, action=action, last=last)
    if json_out:
        emit_json_list(rows)
        return ExitCode.OK
    table = Table("id", "at (UTC)", "actor", "action", "phase", "label", "outcome", box=None)
    for r in rows:
        cells = (str(r["id"]), str(r["at"])[:19].replace("T", " "), r["actor"], r["action"],
                 r["phase"], r["label"] or "", r["outcome"] or "")
        table.add_row(*(Text(str(c)) for c in cells))
    console = err_console()
    if rows:
        console.print(table)
    console.print(f"{len(rows)} entr{'ies' if len(rows) != 1 else 'y'}", markup=False)
    return ExitCode.OK
