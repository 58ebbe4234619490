"""`incident match` and `incident check`: keys against leaked credentials, by fingerprint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from incident.cli.keys import read_credential
from incident.cli.output import emit_json, err_console, open_store, say
from incident.errors import ExitCode
from incident.exchanges.names import resolve
from incident.match import MatchReport, check_credential, run_match

if TYPE_CHECKING:
    from incident.exposure.client import RemoteCheck


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


def _print_remote(remote: RemoteCheck) -> None:
    sent = "the key's and then the secret's" if remote.secret_checked else "the key's"
    say(f"asked {remote.server} (sent: a 5-hex prefix of {sent} fingerprint)")
    if not remote.components:
        say("not found: the service knows no leak of this key or secret (it knows only the "
            "dumps it was given)")
        return

    what = {"both": "the key and its secret are", "key": "the key is",
            "secret": "the secret is"}[remote.components]
    say(f"EXPOSED: {what} in a leak. Revoke the key on the exchange now, then check the "
        "account for trades and withdrawals you did not make.")
    for name, document in (("key", remote.key), ("secret", remote.secret)):
        if not document:
            continue
        roles = " and ".join(f"the {r} column" for r in document.get("roles", [])) or "?"
        exchanges = ", ".join(document.get("exchanges", [])) or "unstated"
        say(f"  your {name}: seen {document.get('c', '?')} time(s), in {roles}; exchange "
            f"{exchanges}")
        for d in document.get("dumps", []):
            say(f"    {d.get('name')} (ingested {str(d.get('first_seen'))[:10]}, sha256 "
                f"{str(d.get('sha256'))[:16]})")
        if document.get("more_dumps"):
            say(f"    and {document['more_dumps']} more dump(s)")
        if document.get("l"):
            say(f"    first published at {document['l'].get('u')}")
    if remote.exchange_agrees is False:
        say(f"  (the dumps name another exchange than {remote.exchange}: the same key string "
            "may be another account's, or the dump may be wrong)")
    if remote.key and not remote.secret_checked:
        say("  (the secret was not asked about: its prefix beside the key's would point at "
            "one leaked record, and the key leaked, which is what counts)")


def check_command(
    ctx: typer.Context,
    exchange: str | None = typer.Option(None, "--exchange",
                                        help="The key's exchange, to compare with the dumps'."),
    stdin: bool = typer.Option(False, "--stdin", help="Read key, secret (and passphrase, "
                               "ignored) from standard input, one per line."),
    server: str | None = typer.Option(None, "--server", metavar="URL", help="Ask this "
                                      "exposure service (incident serve, or a published "
                                      "export) instead of the local dumps: only a 5-hex "
                                      "prefix of each fingerprint is sent."),
    timeout: float = typer.Option(30.0, "--timeout", min=1.0, help="Network timeout in "
                                  "seconds (with --server)."),
    json_out: bool = typer.Option(False, "--json", help="Machine output (JSON) on stdout."),
) -> int:
    """Check one key against the ingested dumps without registering it: read it from a
    hidden prompt (or --stdin), compare its fingerprints, forget it. Exit 1 when it is
    in a dump, 0 when it is not."""
    ex = resolve(exchange) if exchange else None  # before anyone types a secret
    if server is not None:
        from incident.exposure.client import base_url, check_remote

        base_url(server)  # a bad URL is refused before the prompt, too
    key, secret, _ = read_credential(stdin, passphrase=False)  # no use for one
    if server is not None:
        remote = check_remote(server, key, secret, ex, timeout)
        del key, secret
        if json_out:
            emit_json(remote.to_json())
        else:
            _print_remote(remote)
        return ExitCode.EXPOSED if remote.components else ExitCode.OK
    with open_store(ctx) as store:
        result = check_credential(store, key, secret, exchange)
    del key, secret
    if json_out:
        emit_json(result.to_json())
    else:
        say(f"searched {result.dumps:,} dump{'s' if result.dumps != 1 else ''} "
            f"({result.credentials:,} credentials)")
        if not result.sightings:
            say("not found: this key is in none of them")
        else:
            what = {"both": "the key and its secret are", "key": "the key is",
                    "secret": "the secret is"}[result.components or "key"]
            dumps = len({s.dump_id for s in result.sightings})
            say(f"EXPOSED: {what} in {dumps} dump{'s' if dumps != 1 else ''}. Revoke the key "
                "on the exchange now, then check the account for trades and withdrawals you "
                "did not make.")
            for s in result.sightings:
                roles = [f"{mine} in the {role} column" for mine, role in
                         (("key", s.key_role), ("secret", s.secret_role)) if role]
                say(f"  {s.dump} (ingested {s.first_seen[:10]}): {s.locator}: "
                    f"{', '.join(roles)}")
    return ExitCode.EXPOSED if result.sightings else ExitCode.OK
