"""`incident playbook list | show | validate | run | resume | status | approve`.

Exit codes: 0 the run is done (validate: the playbook is valid); 1 the run waits for a
person (an approval or a manual task); 2 usage; 3 bad input (a playbook that does not
validate); 4 a step failed (see `status`, fix, `resume`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from incident.cli.output import ctx_of, emit_json, open_store, say
from incident.errors import ExitCode, UsageError
from incident.playbook import runner, status as run_status
from incident.playbook.schema import Playbook, load_file
from incident.resources import resource_dir

app = typer.Typer(help="Playbooks: the steps of a response, run, resumed and audited.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
JSON = typer.Option(False, "--json", help="Machine output (JSON) on stdout.")
YES = typer.Option(False, "--yes", help="Do not ask before the run's writes.")
CODES = {"done": ExitCode.OK, "waiting": ExitCode.EXPOSED, "failed": ExitCode.SERVICE}


def shipped() -> dict[str, Path]:
    return {p.stem: p for p in sorted(resource_dir("playbooks").glob("*.yaml"))}


def find(name: str) -> Playbook:
    """A shipped playbook by name, or a file by path."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_file(path)
    books = shipped()
    if name not in books:
        raise UsageError(f"no playbook '{name}'; shipped: {', '.join(books)} (or give a "
                         "file's path)")
    return load_file(books[name])


@app.command("list")
def list_command(json_out: bool = JSON) -> int:
    """The shipped playbooks."""
    books = [load_file(p) for p in shipped().values()]
    if json_out:
        emit_json([{"name": b.name, "description": b.description,
                    "steps": [s.id for s in b.steps]} for b in books])
    for b in books if not json_out else []:
        say(f"{b.name:<28} {b.description.strip().splitlines()[0] if b.description else ''}")
    return ExitCode.OK


@app.command("show")
def show_command(name: str = typer.Argument(..., help="A shipped playbook or a file.")) -> int:
    """A playbook's inputs and steps, then its YAML."""
    book = find(name)
    say(f"{book.name}: {book.description.strip()}")
    for i in book.inputs:
        say(f"  input {i.name} ({i.kind}{', required' if i.required else ''}"
            f"{f', default {i.default}' if i.default is not None else ''}): {i.description}")
    for n, s in enumerate(book.steps):
        extras = [x for x in (f"for each {s.for_each}" if s.for_each else "",
                              f"when {s.when}" if s.when else "",
                              "needs approval" if s.approval else "", s.side_effect) if x]
        say(f"  {n}. {s.id}: {s.uses} ({', '.join(extras)})")
    sys.stdout.write(book.text)
    return ExitCode.OK


@app.command("validate")
def validate_command(file: Path = typer.Argument(..., help="The playbook file.")) -> int:
    """Check a playbook against the schema; every problem is named by its path."""
    book = load_file(file)
    say(f"{file}: valid playbook '{book.name}' ({len(book.steps)} steps, "
        f"{len(book.writes)} writing)")
    return ExitCode.OK


def _inputs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError("--input takes NAME=VALUE")
        out[name.strip()] = value
    return out


def _confirm(book: Playbook, yes: bool, what: str) -> None:
    writes = [s.id for s in book.writes]
    if yes or not writes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{what} writes (steps {', '.join(writes)}): pass --yes to act "
                         "without a terminal to confirm on, or --dry-run to see what it "
                         "would do")
    if not typer.confirm(f"{what}: its steps {', '.join(writes)} act on keys and people. "
                         "Go on?", default=False, err=True):
        raise typer.Abort()


def _ask(title: str, checklist: list[str]) -> str | None:
    say(f"manual task: {title}")
    for n, line in enumerate(checklist, 1):
        say(f"  [{n}] {line}")
    if not typer.confirm("Done?", default=False, err=True):
        return None
    note: str = typer.prompt("Note (what was done)", default="", show_default=False, err=True)
    return note


def _execute(ctx: typer.Context, run_id: int, json_out: bool) -> int:
    options = runner.Options(env=dict(os.environ), say=say,
                             ask=_ask if sys.stdin.isatty() else None)
    with open_store(ctx) as store:
        outcome = runner.execute(store, ctx_of(ctx).settings, run_id, options)
        if json_out:
            emit_json(run_status.of(store, run_id))
    if outcome.status == "done":
        say(f"run {run_id}: done")
    else:
        say(f"run {run_id}: {outcome.status}: {outcome.reason}")
        say(f"  then: incident playbook resume {run_id}")
    return CODES[outcome.status]


@app.command("run")
def run_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A shipped playbook's name, or a file."),
    input: list[str] = typer.Option([], "--input", metavar="NAME=VALUE",
                                    help="An input of the playbook; repeat for more."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Walk every step, run the reads, "
                                 "and print every write it would make, making none."),
    yes: bool = YES, json_out: bool = JSON,
) -> int:
    """Run a playbook. It is recorded step by step: if it stops, `resume` goes on."""
    book = find(name)
    inputs = runner.coerce_inputs(book, _inputs(input))
    if not dry_run:
        _confirm(book, yes, f"playbook {book.name}")
    with open_store(ctx) as store:
        run_id = runner.start(store, book, inputs, dry_run=dry_run)
    say(f"run {run_id}: {book.name}{' (dry run: nothing will be changed)' if dry_run else ''}")
    return _execute(ctx, run_id, json_out)


RUN = typer.Argument(..., help="The run's number.")


@app.command("resume")
def resume_command(ctx: typer.Context, run: int = RUN, yes: bool = YES,
                   json_out: bool = JSON) -> int:
    """Go on with a run that stopped: killed, failed, or waiting for a person. Nothing done
    before is done again."""
    with open_store(ctx) as store:
        row, book = runner.load(store, run)
    if not row.dry_run:
        _confirm(book, yes, f"run {run} ({book.name})")
    return _execute(ctx, run, json_out)


@app.command("status")
def status_command(ctx: typer.Context,
                   run: int | None = typer.Argument(None, help="A run (default: list runs)."),
                   json_out: bool = JSON) -> int:
    """Where a run is: each step, each item's state, what waits for whom."""
    with open_store(ctx) as store:
        if run is None:
            listed = run_status.runs(store)
            if json_out:
                emit_json(listed)
            for r in listed if not json_out else []:
                say(f"{r['id']:>5}  {r['playbook']:<26} {r['status']:<8} {r['started_at'][:19]}Z"
                    f"  {r['started_by']}{'  (dry run)' if r['dry_run'] else ''}")
            return ExitCode.OK
        report = run_status.of(store, run)
    if json_out:
        emit_json(report)
    else:
        for line in run_status.lines(report):
            say(line)
    return CODES.get(report["run"]["status"], ExitCode.OK)


@app.command("approve")
def approve_command(
    ctx: typer.Context, run: int = RUN,
    step: str = typer.Argument(..., help="The step waiting for approval or a person."),
    note: str | None = typer.Option(None, "--note", help="What was done, or why approved."),
    item: str | None = typer.Option(None, "--item", help="A manual step: only this task."),
) -> int:
    """Approve a write step that needs it, or mark a manual task done. The one who started
    the run cannot approve its write when the step asks for four eyes."""
    with open_store(ctx) as store:
        say(runner.approve(store, run, step, note=note, item=item))
    say(f"then: incident playbook resume {run}")
    return ExitCode.OK
