"""The `incident` command. Only incident/cli imports typer.

Exit codes: 0 ok and nothing exposed; 1 exposure found; 2 usage; 3 bad input; 4 an outside
service failed; 128 unexpected (a traceback only with --debug, and never local variables).
"""

from __future__ import annotations

import sys
import traceback

import click
import typer

from incident import __version__
from incident.cli import keys
from incident.cli.output import Context, err_console
from incident.errors import ExitCode, IncidentError
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
    ctx.obj = Context(settings=Settings.from_env(), debug=debug)


def run(args: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; every exception ends here."""
    args = sys.argv[1:] if args is None else args
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="incident", standalone_mode=False)
        return rv if isinstance(rv, int) else ExitCode.OK
    except click.exceptions.Abort:
        err_console().print("aborted")
        return 130
    except click.ClickException as e:
        e.show()
        return ExitCode.USAGE
    except IncidentError as e:
        err_console().print(f"error: {e}", markup=False, highlight=False)
        if debug and e.exit_code == ExitCode.UNEXPECTED:
            traceback.print_exc(file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the one place that catches everything
        # The message of a foreign exception may quote its input; show only its type.
        err_console().print(
            f"unexpected error ({type(e).__name__}); run with --debug for a traceback",
            markup=False, highlight=False,
        )
        if debug:
            traceback.print_exc(file=sys.stderr)
        return ExitCode.UNEXPECTED


def main() -> None:
    sys.exit(run())
