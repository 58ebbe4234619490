"""`incident keys`: the registry of your own keys, by fingerprint only."""

from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from incident import registry
from incident.cli.output import (byte_progress, emit_json, emit_json_list, err_console,
                                 open_store, say)
from incident.errors import UsageError
from incident.secret import Secret

app = typer.Typer(help="Register your own keys by fingerprint; plaintext is never stored.",
                  no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine output (JSON) on stdout.")


def read_credential(from_stdin: bool, passphrase: bool = True
                    ) -> tuple[Secret, Secret | None, bool]:
    """Key, secret (None if empty) and whether a passphrase was given. With `passphrase`
    False no prompt asks for one (a third line on standard input is still read, so one
    layout serves every command)."""
    if from_stdin:
        lines = [sys.stdin.readline() for _ in range(3)]
        key, secret, typed = (Secret(line) for line in lines)
    else:
        if not sys.stdin.isatty():
            raise UsageError("standard input is not a terminal: pass --stdin to read the key, "
                             "the secret and the passphrase from it, one per line")
        key = Secret(typer.prompt("API key", hide_input=True, err=True))
        secret = Secret(typer.prompt("API secret (Enter if none)", hide_input=True, default="",
                                     show_default=False, err=True))
        typed = Secret(typer.prompt("Passphrase (Enter if none)", hide_input=True, default="",
                                    show_default=False, err=True) if passphrase else "")
    if not key:
        raise UsageError("no API key was given")
    return key, secret or None, bool(typed)


@app.command("add")
def add(
    ctx: typer.Context,
    exchange: str = typer.Option(..., "--exchange", help="Exchange (ccxt id: binance, okx, ...)."),
    label: str = typer.Option(..., "--label", help="Your name for this key; unique."),
    stdin: bool = typer.Option(False, "--stdin",
                               help="Read key, secret, passphrase from stdin, one per line."),
    json_out: bool = JSON,
) -> None:
    """Register one key: read it from hidden prompts (or --stdin), store its fingerprints."""
    registry.check_names(exchange, label)  # before anyone types a secret
    key, secret, has_passphrase = read_credential(stdin)
    with open_store(ctx) as store:
        added = registry.add_key(store, exchange, label, key, secret, has_passphrase,
                                 "stdin" if stdin else "prompt")
    del key, secret
    if json_out:
        emit_json(added.to_json())
    else:
        say(f"registered '{added.label}' ({added.exchange}): key sha256 "
            f"{_short(added.key_sha256)}, secret "
            f"{_short(added.secret_sha256) if added.secret_sha256 else 'none'}, "
            f"passphrase {'yes' if added.has_passphrase else 'no'}")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Plaintext CSV, fingerprint CSV, or ggshield "
                                          "mapping.txt."),
    exchange: str | None = typer.Option(None, "--exchange",
                                        help="Exchange for rows (or files) that name none."),
    hmsl: bool = typer.Option(False, "--hmsl", help="Also compute HasMySecretLeaked "
                              "fingerprints of plaintext rows (slow: about 550/s)."),
    json_out: bool = JSON,
) -> None:
    """Import keys from a file, in one transaction: all rows or none."""
    size = file.stat().st_size if file.is_file() else 0
    with open_store(ctx) as store, byte_progress(f"importing {file.name}", size) as progress:
        result = registry.import_file(store, file, exchange=exchange, with_hmsl=hmsl,
                                      progress=progress)
    if json_out:
        emit_json({"source": result.source, "layout": result.layout, "rows": result.rows,
                   "added": result.added, "updated": result.updated,
                   "unchanged": result.unchanged})
    else:
        filled = f"{result.updated:,} filled in, " if result.updated else ""
        say(f"{file}: {result.layout} layout, {result.rows:,} rows: {result.added:,} added, "
            f"{filled}{result.unchanged:,} already registered")


@app.command("list")
def list_(
    ctx: typer.Context,
    exchange: str | None = typer.Option(None, "--exchange", help="Only this exchange."),
    limit: int = typer.Option(200, "--limit", help="Most rows in the table (not in --json)."),
    json_out: bool = JSON,
) -> None:
    """List registered keys: label, exchange, fingerprints, passphrase, time added."""
    with open_store(ctx) as store, closing(registry.list_keys(store, exchange)) as keys:
        if json_out:
            emit_json_list(k.to_json() for k in keys)
            return
        table = Table("label", "exchange", "key fingerprint", "secret fingerprint",
                      "passphrase", "added (UTC)", box=None)
        shown = total = 0
        for k in keys:
            total += 1
            if shown < limit:
                shown += 1
                pp = {True: "yes", False: "no", None: "?"}[k.has_passphrase]
                cells = (k.label, k.exchange, _fingerprint(k.key_sha256, k.key_hmsl),
                         _fingerprint(k.secret_sha256, k.secret_hmsl), pp,
                         k.added_at[:19].replace("T", " "))
                table.add_row(*(Text(c) for c in cells))  # Text: a label is never markup
    console = err_console()
    if total:
        console.print(table)
    more = f" (first {shown} shown; --json for all)" if total > shown else ""
    console.print(f"{total:,} key{'s' if total != 1 else ''} registered{more}")


@app.command("remove")
def remove(
    ctx: typer.Context,
    labels: list[str] = typer.Argument(..., help="Labels to remove."),
) -> None:
    """Remove keys from the registry by label (all given labels, or none)."""
    with open_store(ctx) as store:
        n = registry.remove_keys(store, labels)
    say(f"removed {n} key{'s' if n != 1 else ''}")


def _short(digest: bytes | None) -> str:
    return digest.hex()[:12] if digest else "-"


def _fingerprint(sha: bytes | None, hmsl: bytes | None) -> str:
    """The first 12 hex of a fingerprint, named by its scheme."""
    if sha:
        return f"sha256:{_short(sha)}"
    return f"hmsl:{_short(hmsl)}" if hmsl else "-"
