"""`incident sim-exchange`: a simulated Binance and Bybit on loopback, for the tests, the
demo and the benchmarks."""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from incident.cli.output import say
from incident.errors import ExitCode, InputError, Place, UsageError

DEFAULT_ANCHOR = "2022-12-20T08:00:00Z"
KEY_COLUMNS = ("exchange", "label", "api_key", "api_secret")

if TYPE_CHECKING:
    from incident.exchanges.sim.world import ExtraKey


def sim_exchange_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(0, "--port", min=0, max=65535,
                             help="Port (0: any free one; the URL is printed)."),
    seed: int = typer.Option(2022, "--seed", min=0, help="The world's seed: the same seed "
                             "and anchor give the same world, byte for byte."),
    accounts_file: Path | None = typer.Option(None, "--accounts-file", metavar="FILE",
                                              help="Write the accounts and their keys as "
                                              "JSON to FILE (mode 0600)."),
    anchor: str = typer.Option(DEFAULT_ANCHOR, "--anchor", metavar="TIME",
                               help="The attack's time, ISO 8601 UTC; all history is "
                               "relative to it."),
    rate_limit: int = typer.Option(6000, "--rate-limit", min=1, metavar="WEIGHT",
                                   help="Request weight per key (or address) per window."),
    rate_window: int = typer.Option(60, "--rate-window", min=1, metavar="SECONDS",
                                    help="The rate-limit window, aligned to the epoch."),
    victims: int = typer.Option(12, "--victims", min=0, max=500,
                                help="Victim main accounts, split between the exchanges."),
    subaccounts: int = typer.Option(20, "--subaccounts", min=0, max=9999,
                                    help="Sub-accounts of the Binance platform master (the "
                                    "Bybit master gets a fifth as many)."),
    busy_trades: int = typer.Option(10_000, "--busy-trades", min=0, max=1_000_000,
                                    help="Trades of the busy Binance account (over 20 "
                                    "pairs, the three days before the anchor)."),
    keys: Path | None = typer.Option(None, "--keys", metavar="CSV", help="A plaintext key "
                                     "file (exchange,label,api_key,api_secret[,passphrase]); "
                                     "its binance and bybit rows become victim accounts "
                                     "with those very keys."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log",
                                    help="Log each request (method, path without its "
                                    "query, status, time, account label) to standard "
                                    "error."),
) -> int:
    """Run a simulated Binance (spot REST) and Bybit (v5 REST) on one port, over a
    deterministic world of markets, accounts, keys and a pump-and-dump attack with leaked
    keys; ccxt works against it. Runs until Ctrl-C or SIGTERM."""
    from incident.exchanges.sim.server import Sim, SimConfig, run
    from incident.listen import listen, url_of
    from incident.exchanges.sim.world import build_world, parse_anchor

    try:
        anchor_ms = parse_anchor(anchor)
    except ValueError:
        raise UsageError("--anchor: not an ISO 8601 time (like 2022-12-20T08:00:00Z)") from None
    extra = _read_keys(keys) if keys else ()
    if host not in ("127.0.0.1", "::1", "localhost"):
        say(f"  listening on {host}: the simulator's keys are public; keep it on loopback")
    sock = listen(host, port)
    try:
        try:
            world = build_world(seed, anchor_ms, victims, subaccounts, busy_trades, extra)
        except ValueError as e:  # a --keys label that is one of the world's own
            raise InputError(str(e), Place(str(keys))) from None
        url = url_of(sock)
        if accounts_file:
            _write_private(accounts_file, world.accounts_json(url))
        config = SimConfig(rate_limit, rate_window, access_log)
        sim = Sim(world, config)
    except BaseException:
        sock.close()
        raise
    _log_to_stderr(access_log)
    scenario = world.scenario
    say(f"sim-exchange on {url}/ (seed {seed}, anchor {anchor}, {len(world.accounts)} "
        f"accounts, {len(scenario.victims)} victims; pump {scenario.pump['binance']} on "
        f"binance, {scenario.pump['bybit']} on bybit; rate limit {rate_limit} per "
        f"{rate_window}s)")
    if accounts_file:
        say(f"  accounts and keys: {accounts_file}")
    say("Ctrl-C stops it")
    run(sim, sock)
    return ExitCode.OK


def _read_keys(path: Path) -> tuple[ExtraKey, ...]:
    """The binance and bybit rows of a plaintext key file. Errors name the line and the
    column, never a value."""
    from incident.exchanges.sim.world import ExtraKey

    name = str(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", Place(name)) from None
    except (UnicodeDecodeError, csv.Error):
        raise InputError("not a UTF-8 CSV file", Place(name)) from None
    if not rows:
        raise InputError("empty file", Place(name))
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in KEY_COLUMNS if c not in header]
    if missing:
        raise InputError(f"header lacks {', '.join(missing)} (needs "
                         f"{','.join(KEY_COLUMNS)}[,passphrase])", Place(name, 1))
    at = {c: header.index(c) for c in KEY_COLUMNS}
    keys: list[ExtraKey] = []
    labels: set[str] = set()
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header) - ("passphrase" in header):
            raise InputError(f"{len(row)} columns, header has {len(header)}",
                             Place(name, line))
        values = {c: row[i].strip() for c, i in at.items()}
        if values["exchange"].lower() not in ("binance", "bybit"):
            continue
        for column, value in values.items():
            if not value:
                raise InputError("empty", Place(name, line, column))
        if values["label"] in labels:
            raise InputError("label used twice", Place(name, line, "label"))
        labels.add(values["label"])
        keys.append(ExtraKey(values["exchange"].lower(), values["label"], values["api_key"],
                             values["api_secret"]))
    return tuple(keys)


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """JSON into `path`, mode 0600, atomically: a temporary file beside it, then a rename."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as e:
        raise UsageError(f"--accounts-file: cannot write in {folder} ({e.strerror})") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as e:
        Path(temp).unlink(missing_ok=True)
        raise UsageError(f"--accounts-file: cannot write {path} ({e.strerror})") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _log_to_stderr(access_log: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    for name in ("incident.sim", "incident.sim.access"):
        logger = logging.getLogger(name)
        logger.handlers = [handler] if name == "incident.sim" else []
        logger.propagate = name != "incident.sim"
    logging.getLogger("incident.sim").setLevel(logging.WARNING)
    logging.getLogger("incident.sim.access").setLevel(logging.INFO if access_log
                                                      else logging.WARNING)
