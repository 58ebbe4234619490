"""The `incident` command. Only incident/cli imports typer.

Exit codes: 0 ok and nothing exposed; 1 exposure found; 2 usage; 3 bad input; 4 an outside
service failed; 128 unexpected (a traceback only with --debug, and never local variables).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from incident import __version__
from incident.cli import audit as audit_cli
from incident.cli import dumps, exchange, keys, playbook
from incident.cli import report as report_cli
from incident.cli import evidence as evidence_cli
from incident.cli.exposure import publish_command, serve_command
from incident.cli.ingest import ingest_command
from incident.cli.match import check_command, match_command
from incident.cli.output import Context, err_console
from incident.cli.sim import sim_exchange_command
from incident.errors import ExitCode, IncidentError, OutputClosed, safe_traceback
from incident.settings import Settings

HELP = """Respond to leaked crypto-exchange API keys, by fingerprint only.

Exit codes: 0 ok, nothing exposed; 1 exposure found; 2 usage; 3 bad input;
4 an outside service failed; 128 unexpected (use --debug for a traceback).

Data lives in $INCIDENT_HOME, else the platform's user data directory.
"""

app = typer.Typer(
    name="incident",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.add_typer(keys.app, name="keys")
app.command("ingest")(ingest_command)
app.add_typer(dumps.app, name="dumps")
app.command("match")(match_command)
app.command("check")(check_command)
app.command("serve")(serve_command)
app.command("publish")(publish_command)
app.command("sim-exchange")(sim_exchange_command)
app.command("audit-key")(exchange.audit_key_command)
app.command("snapshot")(exchange.snapshot_command)
app.command("revoke")(exchange.revoke_command)
app.command("restrict")(exchange.restrict_command)
app.command("verify-revoked")(exchange.verify_revoked_command)
app.add_typer(playbook.app, name="playbook")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(report_cli.app, name="report")
app.add_typer(evidence_cli.app, name="evidence")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"incident {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug",
                               help="On an unexpected error, print the traceback."),
) -> None:
    # --debug is read by run() from the arguments themselves, so that it also covers a
    # failure before this callback (parsing, settings).
    ctx.obj = Context(settings=Settings.from_env(), debug=debug)


def run(args: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; every exception ends here."""
    args = sys.argv[1:] if args is None else args
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="incident", standalone_mode=False)
        return rv if isinstance(rv, int) else ExitCode.OK
    except typer.Abort:
        err_console().print("aborted")
        return 130
    except OutputClosed as e:
        return e.exit_code  # quietly, as any filter whose reader went away
    except typer.TyperException as e:  # typer's usage errors (missing option, bad value)
        # Its messages quote what was typed ("Got unexpected extra argument (KEY)"): a key
        # pasted on the command line by mistake must not be echoed back.
        err_console().print(f"error: {withhold_values(e.format_message(), args)}\n"
                            "Try 'incident --help' or 'incident COMMAND --help'.",
                            markup=False, highlight=False)
        return ExitCode.USAGE
    except IncidentError as e:
        err_console().print(f"error: {e}", markup=False, highlight=False)
        if debug and e.exit_code == ExitCode.UNEXPECTED:
            sys.stderr.write(safe_traceback(e))
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the one place that catches everything
        # The message of a foreign exception may quote its input; show only its type.
        err_console().print(
            f"unexpected error ({type(e).__name__}); run with --debug for a traceback",
            markup=False, highlight=False,
        )
        if debug:
            sys.stderr.write(safe_traceback(e))
        return ExitCode.UNEXPECTED


def withhold_values(message: str, args: list[str]) -> str:
    """A usage message with every word typed on the command line withheld, except the
    names of our own commands and options: typer quotes what was typed ("Got unexpected
    extra argument (KEY)", "No such command 'KEY'"), and a key pasted on the command line
    by mistake must not be echoed back."""
    names = _command_words()
    for arg in sorted(set(args), key=len, reverse=True):
        for token in {arg, *arg.split("=", 1)}:
            if len(token) >= 3 and token not in names:
                for form in {repr(token), f'"{token}"', token}:
                    message = message.replace(form, "(value withheld)")
    return message


def _command_words() -> set[str]:
    """Every command and option name the CLI declares."""
    words: set[str] = set()

    def walk(cmd: Any) -> None:
        words.add(cmd.name or "")
        for param in getattr(cmd, "params", []):
            words.update(getattr(param, "opts", []))
            words.update(getattr(param, "secondary_opts", []))
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return words


def main() -> None:
    sys.exit(run())
