"""`incident serve` and `incident publish`: the exposure service and its static export."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import typer

from incident.cli.output import emit_json, open_store, say
from incident.errors import ExitCode, UsageError


def _corpus(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from incident.exposure.corpus import Corpus, padding_key

    with open_store(ctx) as store:  # creates or migrates it; the corpus reads it after
        path = store.path
    return Corpus.load(path, padding_key(path.parent))


def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535,
                             help="Port (0: any free one; the URL is printed)."),
    rate_limit: int = typer.Option(600, "--rate-limit", min=1, help="Lookups a client "
                                   "(by address; IPv6 by /64) may make per window: one per "
                                   "prefix, hash or page query (per worker)."),
    rate_window: float = typer.Option(60.0, "--rate-window", min=1.0,
                                      help="The rate-limit window, in seconds."),
    refresh: float = typer.Option(10.0, "--refresh", min=0.0, help="Seconds between checks "
                                  "for new or removed dumps (0: never reload)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Processes serving "
                                "the one port (each keeps its own rate-limit counts)."),
    trusted_proxy: list[str] = typer.Option([], "--trusted-proxy", metavar="ADDRESS",
                                            help="A reverse proxy (TLS in front) whose "
                                            "X-Forwarded-For names the client; repeat for "
                                            "more."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log",
                                    help="Log each request (client, route, status, time; "
                                    "never a prefix or hash) to standard error."),
) -> int:
    """Serve the exposure service: HasMySecretLeaked's protocol for ggshield, and a web page
    where a browser checks a key by k-anonymity. Runs until Ctrl-C."""
    from incident.exposure.server import Limits, serve

    corpus = _corpus(ctx)
    sha, hmsl = corpus.indexes["sha256"], corpus.indexes["hmsl"]
    say(f"{corpus.dumps:,} dump{'s' if corpus.dumps != 1 else ''}: {sha.values:,} leaked "
        f"values for the page and `incident check --server`, {hmsl.values:,} with hmsl "
        "fingerprints for ggshield")
    if not hmsl.values:
        say("  ggshield will find nothing: no dump was ingested with --hmsl")
    if host not in ("127.0.0.1", "::1", "localhost"):
        say(f"  listening on {host}: put it behind TLS; browsers give the page no WebCrypto "
            "over plain http except on localhost")

    def ready(url: str) -> None:
        say(f"serving on {url}/  (page: {url}/; ggshield: GITGUARDIAN_HMSL_URL={url} "
            "ggshield hmsl check FILE)")
        say("Ctrl-C stops it")
        sys.stderr.flush()

    proxies = set()
    for address in trusted_proxy:
        try:
            proxies.add(str(ipaddress.ip_address(address)))
        except ValueError:
            raise UsageError("--trusted-proxy: not an IP address") from None
    serve(corpus, host, port, Limits(rate_limit, rate_window), refresh, access_log, ready,
          workers, frozenset(proxies))
    return ExitCode.OK


def publish_command(
    ctx: typer.Context,
    outdir: Path = typer.Argument(..., metavar="OUTDIR", help="Folder to write (new)."),
    force: bool = typer.Option(False, "--force", help="Replace OUTDIR if it holds an "
                               "earlier export."),
    every_prefix: bool = typer.Option(False, "--every-prefix", help="Write all 1,048,576 "
                                      "buckets, so that no answer is a 404 (about 2 KB "
                                      "each)."),
    json_out: bool = typer.Option(False, "--json", help="Machine output (JSON) on stdout."),
) -> int:
    """Write the page and the sha256 buckets as static files, for any static host or CDN;
    the page and `incident check --server URL` work against it as against `serve`."""
    from incident.exposure.publish import publish

    corpus = _corpus(ctx)
    done = publish(corpus, outdir, force, every_prefix)
    if json_out:
        emit_json({"path": str(done.path), "buckets": done.buckets, "values": done.values,
                   "entries_per_bucket": done.pad_to})
    else:
        say(f"published {done.values:,} leaked values in {done.buckets:,} buckets "
            f"({done.pad_to} entries each) to {done.path}")
        say(f"  serve that folder with any static web server; the page is index.html, "
            f"and `incident check --server URL` works against it")
    return ExitCode.OK
