"""`incident ingest`: read leak dumps, keep only fingerprints."""

from __future__ import annotations

import os
import sys

import typer

from incident.cli.output import byte_progress, ctx_of, emit_json, open_store, say
from incident.errors import ExitCode, ServiceError, safe_traceback
from incident.ingest.interface import SourceOptions
from incident.ingest.pipeline import (DumpResult, IngestOptions, NothingNew, SourceFailure,
                                      ingest)


def ingest_command(
    ctx: typer.Context,
    sources: list[str] = typer.Argument(..., metavar="SOURCE...", help=(
        "A file, a directory (recursive), an archive (zip, tar, gz, bz2, xz; nested), an "
        "http(s) URL (paste pages followed to their raw text), twitter:@handle or "
        "twitter:search:QUERY.")),
    name: str | None = typer.Option(None, "--name", help="Name the dump (default: the "
                                    "source as given)."),
    exchange: str | None = typer.Option(None, "--exchange", help="Exchange of records that "
                                        "name none (otherwise taken from key shapes)."),
    strict: bool = typer.Option(False, "--strict", help="Stop a dump at its first bad "
                                "record (by default bad records are skipped and listed)."),
    wait: bool = typer.Option(False, "--wait", help="On a Twitter rate limit, wait for it "
                              "to reset instead of stopping."),
    max_size: int = typer.Option(512, "--max-size", min=1, help="Largest download or "
                                 "expanded archive member, in MiB."),
    timeout: float = typer.Option(30.0, "--timeout", min=1.0, help="Network timeout in "
                                  "seconds."),
    hmsl: bool = typer.Option(False, "--hmsl", help="Also keep HasMySecretLeaked "
                              "fingerprints, for `incident serve` to answer ggshield (scrypt: "
                              "about 550 values a second on two cores)."),
    json_out: bool = typer.Option(False, "--json", help="Machine output (JSON) on stdout."),
) -> int:
    """Ingest leak dumps: find every credential, keep only fingerprints (one dump per
    SOURCE, each whole or not at all). Exit 3 if a source could not be read, 4 if a server
    failed; the other sources are ingested all the same."""
    options = IngestOptions(name=name, exchange=exchange, strict=strict, hmsl=hmsl, sources=SourceOptions(
        max_bytes=max_size << 20, timeout=timeout, wait=wait,
        twitter_token=os.environ.get("INCIDENT_TWITTER_BEARER_TOKEN") or None))
    total = sum(os.path.getsize(s) for s in sources if os.path.isfile(s))
    with open_store(ctx) as store, byte_progress("ingesting", total) as progress:
        results = ingest(store, sources, options, progress)
    dumps = [r for r in results if isinstance(r, DumpResult)]
    failures = [r for r in results if isinstance(r, SourceFailure)]
    nothing = [r for r in results if isinstance(r, NothingNew)]
    if json_out:
        emit_json({"dumps": [d.to_json() for d in dumps],
                   "nothing_new": [n.to_json() for n in nothing],
                   "failures": [f.to_json() for f in failures]})
    for n in nothing:
        say(f"{n.source}: {n.reason}")
    for d in dumps:
        _report(d, quiet=json_out)
        if hmsl and d.already and not d.hmsl:
            say(f"  dump {d.id} has no hmsl fingerprints (it was ingested without --hmsl), and "
                "they cannot be made without the plaintext: 'incident dumps remove "
                f"{d.id}', then ingest it again with --hmsl")
    for f in failures:
        say(f"error: {f.error}")
        if ctx_of(ctx).debug and f.error.exit_code == ExitCode.UNEXPECTED:
            sys.stderr.write(safe_traceback(f.error))
    if not failures:
        return ExitCode.OK
    if any(isinstance(f.error, ServiceError) for f in failures):
        return ExitCode.SERVICE
    return max(int(f.error.exit_code) for f in failures)


def _report(d: DumpResult, quiet: bool) -> None:
    if quiet:
        return
    if d.already:
        say(f"{d.source}: already ingested as dump {d.id} ('{d.name}', {d.ingested_at[:19]}Z);"
            " nothing added")
        return
    exchanges = ", ".join(f"{ex} {n:,}" for ex, n in sorted(d.per_exchange.items(),
                                                             key=lambda i: (-i[1], i[0])))
    say(f"dump {d.id} '{d.name}': {d.credentials:,} credential"
        f"{'s' if d.credentials != 1 else ''}{f' ({exchanges})' if exchanges else ''}"
        f" from {', '.join(d.formats) or 'no readable member'}; sha256 {d.sha256[:16]}")
    if d.rejected:
        say(f"  {d.rejected:,} record{'s' if d.rejected != 1 else ''} not read:")
        for line in d.rejects[:10]:
            say(f"    {line}")
        if d.rejected > 10:
            say(f"    ... see 'incident dumps show {d.id}'")
    for link in d.skipped:
        say(f"  not followed: {link}")
