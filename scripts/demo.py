"""The demo: the main job on built-in defaults, narrated. Run it with `make demo`.

Everything happens in demo-output/ (a fresh data directory each run); nothing outside it is
touched. Each step prints the command it runs and what the command printed. All keys are
the fake ones in sample_dumps/.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

from loopback import serve_pages  # scripts/loopback.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = "sample_dumps/registry"  # relative to ROOT, where the commands run
DUMPS = "sample_dumps/dumps"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def incident(*args: str, stdin: str | None = None, expect: int = 0) -> None:
    shown = " ".join(args)
    print(f"$ incident {shown}" + (" < (from standard input)" if stdin else ""), flush=True)
    proc = subprocess.run([sys.executable, "-m", "incident", *args], input=stdin, text=True,
                          capture_output=True, env=ENV, cwd=ROOT)
    for stream in (proc.stdout, proc.stderr):
        if stream.strip():
            print("  " + stream.rstrip().replace("\n", "\n  "), flush=True)
    if proc.returncode != expect:
        sys.exit(f"demo failed: exit code {proc.returncode}, expected {expect}")
    print(f"  (exit code {proc.returncode})", flush=True)


def main() -> None:
    out = Path(os.environ.get("DEMO_OUTPUT", ROOT / "demo-output")).resolve()
    shutil.rmtree(out, ignore_errors=True)
    home = out / "home"
    global ENV
    ENV = dict(os.environ, INCIDENT_HOME=str(home), PYTHONPATH=str(ROOT))
    print(f"incident demo: all data goes to {home}")

    step("A platform registers its users' keys. Plaintext is hashed as it is read.")
    incident("keys", "import", f"{SAMPLES}/platform_users.csv")

    step("Importing the same file again changes nothing.")
    incident("keys", "import", f"{SAMPLES}/platform_users.csv")

    step("Or it exports fingerprints from its own database, so plaintext never leaves it.")
    incident("keys", "import", f"{SAMPLES}/platform_export_sha256.csv")

    step("A user who ran `ggshield hmsl fingerprint` imports its mapping.txt.")
    incident("keys", "import", "--exchange", "binance", f"{SAMPLES}/ggshield_mapping.txt")

    step("A key typed in (here piped on standard input: key, secret, passphrase line by "
         "line).\n   The same key under a second label is refused, naming the first.")
    with open(ROOT / SAMPLES / "platform_users.csv", newline="") as f:
        row = list(csv.DictReader(f))[3]  # an OKX user: key, secret and passphrase
    typed = f"{row['api_key']}\n{row['api_secret']}\n{row['passphrase']}\n"
    incident("keys", "add", "--exchange", "okx", "--label", "alice-okx", "--stdin",
             stdin=typed, expect=3)
    incident("keys", "remove", row["label"])
    incident("keys", "add", "--exchange", "okx", "--label", "alice-okx", "--stdin",
             stdin=typed)

    step("The registry: fingerprints only.")
    incident("keys", "list", "--exchange", "okx")
    incident("keys", "list", "--json", "--exchange", "kraken")

    step("A leak is published: a 3Commas-style release, CSV parts and a tar.gz with a zip "
         "inside.\n   Every credential in it is kept as fingerprints only.")
    incident("ingest", "--name", "3Commas release (2022)", f"{DUMPS}/3commas_2022")

    step("The same release downloaded again adds nothing.")
    incident("ingest", f"{DUMPS}/3commas_2022")

    step("A paste page, fetched over HTTP (a local server stands in for the paste site):\n"
         "   its raw link is followed; the textarea showing the same text is not read twice.")
    with _paste_site() as base:
        incident("ingest", "--name", "paste AbC123", f"{base}/AbC123")

    step("A Telegram channel export, a bot's public repository, a database dump, a "
         "spreadsheet:\n   each recognised by its content.")
    incident("ingest", f"{DUMPS}/telegram/result.json", f"{DUMPS}/bot_repo",
             f"{DUMPS}/sql/bot_platform_mysql.sql", f"{DUMPS}/sql/bot_platform_pg.sql",
             f"{DUMPS}/spreadsheet/keys.xlsx")

    step("A damaged download is named by place, never by content; nothing of it is kept.")
    broken = out / "inputs" / "release-cut.tar.gz"
    broken.parent.mkdir(parents=True)
    whole = (ROOT / DUMPS / "3commas_2022" / "3commas_2022.tar.gz").read_bytes()
    broken.write_bytes(whole[: len(whole) // 2])
    incident("ingest", str(broken), expect=3)

    step("The dumps so far, and one of them in detail.")
    incident("dumps", "list")
    incident("dumps", "show", "1")

    step("What is on disk: the data directory is private (0700), its files 0600.")
    for path in sorted(home.iterdir()):
        print(f"  {oct(path.stat().st_mode & 0o777)}  {path.relative_to(out)}")
    cli = Path(sys.executable).parent / "incident"
    shown = cli.relative_to(ROOT) if cli.is_relative_to(ROOT) else cli
    print(f"\nDone. Data: {home}. To look again:\n  INCIDENT_HOME={home} {shown} keys list")


def _paste_site() -> contextlib.AbstractContextManager[str]:
    """The sample paste page and its raw body, served on 127.0.0.1 for the demo's length."""
    paste = ROOT / DUMPS / "paste"
    return serve_pages({"/AbC123": ("text/html", (paste / "page.html").read_bytes()),
                        "/raw/AbC123": ("text/plain", (paste / "raw_AbC123.txt").read_bytes())})


ENV: dict[str, str] = {}

if __name__ == "__main__":
    main()
