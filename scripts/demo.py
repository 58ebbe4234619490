"""The demo: the main job on built-in defaults, narrated. Run it with `make demo`.

Everything happens in demo-output/ (a fresh data directory each run); nothing outside it is
touched. Each step prints the command it runs and what the command printed. All keys are
the fake ones in sample_dumps/.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from loopback import incident_serve, serve_pages  # scripts/loopback.py, beside this file

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
         "inside.\n   Every credential in it is kept as fingerprints only; --hmsl adds "
         "HasMySecretLeaked's, for ggshield.")
    incident("ingest", "--hmsl", "--name", "3Commas release (2022)", f"{DUMPS}/3commas_2022")

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

    step("Which registered keys are in the dumps? By fingerprint, in any column (exit 1: "
         "some are).")
    incident("match", expect=1)

    step("A user checks a key without registering it; it is hashed, compared, forgotten.")
    with open(ROOT / SAMPLES / "platform_users.csv", newline="") as f:
        victim = next(r for r in csv.DictReader(f) if r["label"] == "user-0001-binance")
    leaked = f"{victim['api_key']}\n{victim['api_secret']}\n\n"
    incident("check", "--stdin", stdin=leaked, expect=1)

    step("The exposure service, for users who must not hand their key to anyone: only a "
         "5-hex prefix\n   of the key's hash reaches it, and the answer is decrypted on "
         "the user's side.")
    with _exposure_service(out) as url:
        incident("check", "--stdin", "--server", url, stdin=leaked, expect=1)
        _show_bucket(url, victim["api_key"])
        _ggshield(url, out, victim["api_key"])

    step("The same buckets and page as static files, for any web host or CDN.")
    incident("publish", str(out / "exposure-site"))

    step("What is on disk: the data directory is private (0700), its files 0600.")
    for path in sorted(home.iterdir()):
        print(f"  {oct(path.stat().st_mode & 0o777)}  {path.relative_to(out)}")
    cli = Path(sys.executable).parent / "incident"
    shown = cli.relative_to(ROOT) if cli.is_relative_to(ROOT) else cli
    print(f"\nDone. Data: {home}. To look again:\n  INCIDENT_HOME={home} {shown} keys list")
    print(f"The exposure page: INCIDENT_HOME={home} {shown} serve, then open "
          "http://127.0.0.1:8000/\n  (or the static export: python3 -m http.server "
          f"--bind 127.0.0.1 --directory {out / 'exposure-site'} 8000)")


def _paste_site() -> contextlib.AbstractContextManager[str]:
    """The sample paste page and its raw body, served on 127.0.0.1 for the demo's length."""
    paste = ROOT / DUMPS / "paste"
    return serve_pages({"/AbC123": ("text/html", (paste / "page.html").read_bytes()),
                        "/raw/AbC123": ("text/plain", (paste / "raw_AbC123.txt").read_bytes())})


@contextlib.contextmanager
def _exposure_service(out: Path) -> Iterator[str]:
    """`incident serve --port 0` for the length of the block; its URL."""
    print("$ incident serve --port 0   (in the background; its log: demo-output/serve.log)",
          flush=True)
    with incident_serve([], ENV, out / "serve.log") as (url, _):
        print("  " + (out / "serve.log").read_text().rstrip().replace("\n", "\n  "),
              flush=True)
        yield url


def _show_bucket(url: str, key: str) -> None:
    """What the service answers for a prefix: a padded bucket, nothing readable."""
    import hashlib
    import urllib.request

    prefix = hashlib.sha256(key.encode()).hexdigest()[:5]
    print(f"$ curl {url}/v1/range/{prefix}", flush=True)
    with urllib.request.urlopen(f"{url}/v1/range/{prefix}", timeout=10) as answer:
        bucket = json.load(answer)
    print(f"  {len(bucket['matches'])} entries (hint + encrypted payload), padded: every "
          "bucket has as many; only the key's holder can tell which one is its own",
          flush=True)


def _ggshield(url: str, out: Path, key: str) -> None:  # the key on its standard input
    """GitGuardian's own client against the service, when it is installed (`make test`
    installs it into .venv-ggshield)."""
    ggshield = ROOT / ".venv-ggshield" / "bin" / "ggshield"
    shown = f"GITGUARDIAN_HMSL_URL={url} ggshield hmsl check - --json  < (the key)"
    if not ggshield.exists():
        print(f"$ {shown}\n  (ggshield is not installed here; `make test` installs it)")
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITGUARDIAN")}
    proc = subprocess.run([str(ggshield), "hmsl", "check", "-", "--json"], input=key + "\n",
                          capture_output=True, text=True, timeout=120,
                          env={**env, "GITGUARDIAN_HMSL_URL": url, "HOME": str(out / "gg")})
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    print(f"$ {shown}\n  leaks_count: {report['leaks_count']} (count "
          f"{report['leaks'][0]['count'] if report['leaks'] else 0})", flush=True)


ENV: dict[str, str] = {}

if __name__ == "__main__":
    main()
