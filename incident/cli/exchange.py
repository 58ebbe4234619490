"""`incident audit-key | snapshot | revoke | restrict | verify-revoked LABEL`: act on a
registered key at its exchange, with a credential supplied now and forgotten after.

Exit codes: 0 done (revoke: revoked or already; verify-revoked: the key is dead); 1 the key
is still live (manual steps pending, or verification found it working); 2 usage; 3 bad
input (a credential that is not the registered one); 4 the exchange failed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import typer

from incident.cli.output import emit_json, open_store, say
from incident.errors import ExitCode, UsageError
from incident.exchanges import actions
from incident.exchanges.credentials import Sources
from incident.exchanges.interface import ActionResult, Restriction
from incident.store import Store

LABEL = typer.Argument(..., help="The registered key's label.")
BASE_URL = typer.Option(None, "--base-url", metavar="URL", help="The exchange's API at "
                        "another address: the simulator (incident sim-exchange) or a testnet.")
JSON = typer.Option(False, "--json", help="Machine output (JSON) on stdout.")
CREDENTIALS = typer.Option(None, "--credentials", metavar="FILE", help="A CSV in the keys "
                           "import layout (exchange,label,api_key,api_secret,passphrase) "
                           "holding this label's row (and the master's).")
NO_KEYRING = typer.Option(False, "--no-keyring", help="Do not look in the OS keyring.")
TIMEOUT = typer.Option(10.0, "--timeout", min=1.0, max=300.0, help="Seconds per request.")
MASTER = typer.Option(None, "--master", metavar="LABEL", help="For a sub-account key: the "
                      "registered label of the master account's key that manages it.")
SUB_ACCOUNT = typer.Option(None, "--sub-account", metavar="ID", help="With --master: the "
                           "sub-account (Binance: its e-mail; Bybit: its uid).")
DRY_RUN = typer.Option(False, "--dry-run", help="Say what would be done; change nothing.")
YES = typer.Option(False, "--yes", help="Do not ask for confirmation.")


def _prompt() -> object:
    if not sys.stdin.isatty():
        return None
    return lambda text: typer.prompt(text, hide_input=True, default="", show_default=False,
                                     err=True)


def target(store: Store, label: str, *, base_url: str | None, credentials: Path | None,
           no_keyring: bool, timeout: float, master: str | None = None,
           sub_account: str | None = None) -> actions.Target:
    if sub_account is not None and master is None:
        raise UsageError("--sub-account goes with --master LABEL")
    sources = Sources(credentials, os.environ, not no_keyring, _prompt())  # type: ignore[arg-type]
    return actions.target(store, label, sources, base_url=base_url, timeout=timeout,
                          master=master, sub_account=sub_account)


def audit_key_command(ctx: typer.Context, label: str = LABEL, base_url: str | None = BASE_URL,
                      credentials: Path | None = CREDENTIALS, no_keyring: bool = NO_KEYRING,
                      timeout: float = TIMEOUT, json_out: bool = JSON) -> int:
    """What a key can do: trade, withdraw, transfer, IP whitelist, created and expiry."""
    with open_store(ctx) as store:
        t = target(store, label, base_url=base_url, credentials=credentials,
                   no_keyring=no_keyring, timeout=timeout)
        result = actions.audit_key(store, t)
    if json_out:
        emit_json(result.to_json())
    else:
        def yn(v: bool | None) -> str:
            return {True: "yes", False: "no", None: "not reported"}[v]
        say(f"{label} ({result.exchange})")
        for name, value in (("read", yn(result.can_read)), ("trade", yn(result.can_trade)),
                            ("withdraw", yn(result.can_withdraw)),
                            ("transfer", yn(result.can_transfer)),
                            ("IP whitelist", ", ".join(result.ip_whitelist) or
                             yn(result.ip_restricted)),
                            ("created", result.created_at or "not reported"),
                            ("expires", result.expires_at or "not reported")):
            say(f"  {name:<13} {value}")
        for finding in result.risk:
            say(f"  ! {finding}")
    return ExitCode.OK


def snapshot_command(
    ctx: typer.Context, label: str = LABEL,
    since: str | None = typer.Option(None, "--since", metavar="TIME",
                                     help="Start of the window (ISO UTC, or 30d ago). "
                                          "Default: 90 days ago."),
    until: str | None = typer.Option(None, "--until", metavar="TIME",
                                     help="End of the window. Default: now."),
    symbol: list[str] = typer.Option([], "--symbol", metavar="BASE/QUOTE",
                                     help="A pair to include even if the account shows no "
                                          "sign of it; repeat for more."),
    base_url: str | None = BASE_URL, credentials: Path | None = CREDENTIALS,
    no_keyring: bool = NO_KEYRING, timeout: float = TIMEOUT, json_out: bool = JSON,
) -> int:
    """Snapshot the account as evidence: balances, orders, trades, deposits, withdrawals,
    candles around the fills, and every raw response with its SHA-256."""
    now = dt.datetime.now(dt.timezone.utc)
    start = actions.when(since, now - dt.timedelta(days=90), "--since")
    end = actions.when(until, now, "--until")
    if start >= end:
        raise UsageError("--since must be before --until")
    with open_store(ctx) as store:
        t = target(store, label, base_url=base_url, credentials=credentials,
                   no_keyring=no_keyring, timeout=timeout)
        snap, path = actions.take_snapshot(store, t, since=start, until=end, symbols=symbol)
    counts = snap.counts()
    if json_out:
        emit_json({"label": label, "exchange": snap.exchange, "path": str(path),
                   "since": snap.since, "until": snap.until, "taken_at": snap.taken_at,
                   "symbols": list(snap.symbols), "counts": counts})
    else:
        say(f"{label} ({snap.exchange}), {snap.since} to {snap.until}: "
            f"{counts['trades']:,} trades and {counts['orders']:,} orders on "
            f"{len(snap.symbols)} pairs, {counts['balances']} balances, "
            f"{counts['deposits']} deposits, {counts['withdrawals']} withdrawals, "
            f"{counts['candles']:,} candles; {counts['responses']} raw responses kept")
        say(f"written to {path}")
    return ExitCode.OK


def _confirm(what: str, yes: bool, dry_run: bool) -> None:
    if yes or dry_run:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{what}: pass --yes to act without a terminal to confirm on "
                         "(or --dry-run to see what would be done)")
    if not typer.confirm(f"{what}?", default=False, err=True):
        raise typer.Abort()


def _report(result: ActionResult, json_out: bool) -> None:
    if json_out:
        emit_json(result.to_json())
        return
    say(f"{result.label} ({result.exchange}): {result.action} {result.outcome}"
        f"{' via ' + result.method if result.method != 'manual' else ''}: {result.detail}")
    for call in result.calls:
        say(f"  {'would call' if result.outcome == 'dry-run' else 'called'} {call}")
    for n, step in enumerate(result.steps, 1):
        say(f"  {n}. {step.text}" + (f" ({step.url})" if step.url else ""))


def revoke_command(
    ctx: typer.Context, label: str = LABEL, dry_run: bool = DRY_RUN, yes: bool = YES,
    master: str | None = MASTER, sub_account: str | None = SUB_ACCOUNT,
    base_url: str | None = BASE_URL, credentials: Path | None = CREDENTIALS,
    no_keyring: bool = NO_KEYRING, timeout: float = TIMEOUT, json_out: bool = JSON,
) -> int:
    """Revoke the key: by API where the exchange allows (the key itself on Bybit, a
    sub-account's key through its master), else the exchange's manual steps, then wait
    for verification."""
    with open_store(ctx) as store:
        t = target(store, label, base_url=base_url, credentials=credentials,
                   no_keyring=no_keyring, timeout=timeout, master=master,
                   sub_account=sub_account)
        _confirm(f"revoke '{label}' ({t.key.exchange})" +
                 (f" through master key '{master}'" if master else ""), yes, dry_run)
        result = actions.revoke(store, t, dry_run=dry_run)
        _report(result, json_out)
        if result.outcome in ("done", "already", "dry-run"):
            return ExitCode.OK
        if dry_run:  # the manual steps it would take; nothing to wait for
            return ExitCode.EXPOSED
        if yes or not sys.stdin.isatty():
            say("when done, run: incident verify-revoked " + label)
            return ExitCode.EXPOSED
        while True:  # manual: wait for the person, then prove it
            typer.prompt("Press Enter once the key is deleted (Ctrl-C to stop)", default="",
                         show_default=False, err=True)
            if actions.verify(store, t).revoked:
                say(f"verified: {t.key.exchange} now refuses the key")
                return ExitCode.OK
            say("the exchange still accepts the key")


def restrict_command(
    ctx: typer.Context, label: str = LABEL,
    ip: list[str] = typer.Option([], "--ip", metavar="ADDRESS", help="Allow only this "
                                 "address (repeat for more)."),
    read_only: bool = typer.Option(True, "--read-only/--keep-trading", help="Take away "
                                   "trading (where the exchange can)."),
    dry_run: bool = DRY_RUN, yes: bool = YES,
    master: str | None = MASTER, sub_account: str | None = SUB_ACCOUNT,
    base_url: str | None = BASE_URL, credentials: Path | None = CREDENTIALS,
    no_keyring: bool = NO_KEYRING, timeout: float = TIMEOUT, json_out: bool = JSON,
) -> int:
    """Restrict the key instead of deleting it: read-only, or an IP whitelist."""
    import ipaddress

    for address in ip:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise UsageError("--ip: not an IP address") from None
    with open_store(ctx) as store:
        t = target(store, label, base_url=base_url, credentials=credentials,
                   no_keyring=no_keyring, timeout=timeout, master=master,
                   sub_account=sub_account)
        _confirm(f"restrict '{label}' ({t.key.exchange})", yes, dry_run)
        result = actions.restrict(store, t, Restriction(tuple(ip), read_only),
                                  dry_run=dry_run)
    _report(result, json_out)
    return ExitCode.OK if result.outcome != "manual" else ExitCode.EXPOSED


def verify_revoked_command(
    ctx: typer.Context, label: str = LABEL, base_url: str | None = BASE_URL,
    credentials: Path | None = CREDENTIALS, no_keyring: bool = NO_KEYRING,
    timeout: float = TIMEOUT, json_out: bool = JSON,
) -> int:
    """Prove the key is dead: a signed call with it must fail as the exchange fails an
    invalid key. Exit 0 if so, 1 if the key still works."""
    with open_store(ctx) as store:
        t = target(store, label, base_url=base_url, credentials=credentials,
                   no_keyring=no_keyring, timeout=timeout)
        result = actions.verify(store, t)
    if json_out:
        emit_json(result.to_json())
    elif result.revoked:
        say(f"{label} ({result.exchange}): revoked: {result.endpoint} refused the key "
            f"(code {result.code}) at {result.checked_at}")
    else:
        say(f"{label} ({result.exchange}): STILL LIVE: {result.endpoint} accepted the key "
            f"at {result.checked_at}")
    return ExitCode.OK if result.revoked else ExitCode.EXPOSED
