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
import socket
import subprocess
import sys
import urllib.request
from urllib.parse import urlsplit
from collections.abc import Iterator
from pathlib import Path

import platform_scenario  # scripts/, beside this file
from loopback import incident_serve, serve_pages, sim_exchange
from mailsink import MailSink

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = "sample_dumps/registry"  # relative to ROOT, where the commands run
DUMPS = "sample_dumps/dumps"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def incident(*args: str, stdin: str | None = None, expect: int = 0,
             env: dict[str, str] | None = None) -> None:
    """Run one command and show it. `env`: credentials for this command only (shown as
    the variables' names, never their values)."""
    shown = " ".join(args)
    if env:
        shown = " ".join(f"{k}=..." for k in env) + " incident " + shown
    else:
        shown = "incident " + shown
    print(f"$ {shown}" + (" < (from standard input)" if stdin else ""), flush=True)
    proc = subprocess.run([sys.executable, "-m", "incident", *args], input=stdin, text=True,
                          capture_output=True, env={**ENV, **(env or {})}, cwd=ROOT)
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
        SERVERS.append(("the paste site", base))
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
        _show_page(url)
        incident("check", "--stdin", "--server", url, stdin=leaked, expect=1)
        _show_bucket(url, victim["api_key"])
        _ggshield(url, out, victim["api_key"])

    step("The same buckets and page as static files, for any web host or CDN.")
    incident("publish", str(out / "exposure-site"))

    _exchange(out)

    step("What is on disk: the data directory is private (0700), its files 0600.")
    for path in sorted(home.iterdir()):
        print(f"  {oct(path.stat().st_mode & 0o777)}  {path.relative_to(out)}")
    _summary(out)


def _credential(account: dict[str, str], prefix: str = "INCIDENT_") -> dict[str, str]:
    """A credential for one command, through its environment: never in a file."""
    return {f"{prefix}API_KEY": account["api_key"], f"{prefix}API_SECRET": account["api_secret"]}


def _exchange(out: Path) -> None:
    step("A simulated exchange on 127.0.0.1 (Binance's and Bybit's APIs, real signatures)\n"
         "   holds the sample users' Binance and Bybit keys, and replays the attack: at\n"
         "   2022-12-20 08:00 UTC their balances are market-bought into SYS/BTC at pumped\n"
         "   prices while one account sells into them. Its generated accounts (simulated "
         "keys)\n   go to sim-accounts.json (0600).")
    accounts_file = out / "sim-accounts.json"
    args = ["--keys", f"{SAMPLES}/platform_users.csv", "--accounts-file", str(accounts_file),
            "--victims", "4", "--subaccounts", "5", "--busy-trades", "0", "--no-access-log"]
    print("$ incident sim-exchange --port 0 " + " ".join(args), flush=True)
    with sim_exchange(args, ENV, out / "sim-exchange.log") as (url, _):
        SERVERS.append(("the simulated exchange", url))
        print(f"  sim-exchange on {url}/", flush=True)
        doc = json.loads(accounts_file.read_text())
        scenario = doc["scenario"]
        orders = sum(v for k, v in scenario["attack_orders"].items() if k != "total")
        print(f"  the attack: {orders} market orders in {len(scenario['victims'])} accounts "
              f"from {scenario['attack_start']} to {scenario['attack_end']}", flush=True)
        with open(ROOT / SAMPLES / "platform_users.csv", newline="") as f:
            victim = next(r for r in csv.DictReader(f) if r["label"] == "user-0001-binance")
        sim = ("--base-url", url)

        step("user-0001-binance is in the dumps. What can the key do? (the credential comes\n"
             "   from the environment, is checked against the registered fingerprint, and is "
             "forgotten)")
        incident("audit-key", "user-0001-binance", *sim, env=_credential(victim))

        step("Freeze the evidence: balances, orders, trades, deposits and candles around the\n"
             "   fills, every raw response kept with its SHA-256.")
        incident("snapshot", "user-0001-binance", "--since", "2022-12-17", "--until",
                 "2022-12-21", *sim, env=_credential(victim))

        step("Binance has no API for a main account's key to delete itself: the exact steps.")
        incident("revoke", "user-0001-binance", "--yes", *sim, env=_credential(victim),
                 expect=1)

        step("A platform's sub-account key is revoked through its master key, and proven "
             "dead.\n   The two keys are registered first (typed on standard input, never "
             "written).")
        sub = next(a for a in doc["accounts"] if a["exchange"] == "binance"
                   and a["kind"] == "sub" and a["role"] == "victim")
        master = next(a for a in doc["accounts"] if a["label"] == sub["master_label"])
        for a in (master, sub):
            incident("keys", "add", "--exchange", "binance", "--label", a["label"], "--stdin",
                     stdin=f"{a['api_key']}\n{a['api_secret']}\n\n")
        both = {**_credential(sub), **_credential(master, "INCIDENT_MASTER_")}
        via = ("--master", master["label"], "--sub-account", sub["sub_account"])
        incident("revoke", sub["label"], *via, "--dry-run", *sim, env=both)
        incident("revoke", sub["label"], *via, "--yes", *sim, env=both)
        incident("verify-revoked", sub["label"], *sim, env=_credential(sub))
        step("Revoking it again changes nothing.")
        incident("revoke", sub["label"], *via, "--yes", *sim, env=both)
        _playbooks(out, url, accounts_file, victim)


def _playbooks(out: Path, url: str, accounts_file: Path, victim: dict[str, str]) -> None:
    """The two playbooks: a user's own response on their own machine, and a platform's bulk
    response, with a real SMTP server and webhook receiver on loopback."""
    step("user-0001 runs the 3commas-2022 playbook on their own machine (its own data\n"
         "   directory): register the key, check the dump, audit, snapshot, revoke. Binance\n"
         "   has no API for this key, so the run waits for the user to delete it.")
    user = {**_credential(victim), "INCIDENT_HOME": str(out / "user-home")}
    incident("keys", "add", "--exchange", "binance", "--label", victim["label"], "--stdin",
             stdin=f"{victim['api_key']}\n{victim['api_secret']}\n\n", env=user)
    reports = out / "reports"
    run = ("--input", f"dump={DUMPS}/3commas_2022", "--input", f"base_url={url}",
           "--input", "since=2022-12-19", "--input", "until=2022-12-21",
           "--input", f"reports={reports}")
    incident("playbook", "run", "3commas-2022", *run, "--yes", env=user, expect=1)
    step("The user deletes the key in Binance's web page (the simulator's /_sim/delete-key),\n"
         "   marks the task done, and resumes: the run proves the key dead, then builds the\n"
         "   claim (the unauthorized trades, the loss against pre-incident prices) and its\n"
         "   evidence bundle, and the exposure report.")
    print(f"$ curl -X POST {url}/_sim/delete-key -d '{{\"label\": \"{victim['label']}\"}}'",
          flush=True)
    urllib.request.urlopen(urllib.request.Request(
        url + "/_sim/delete-key", data=json.dumps({"label": victim["label"]}).encode(),
        method="POST"), timeout=10).read()
    incident("playbook", "approve", "1", "guide", "--note",
             "deleted in API Management, 2FA confirmed", env=user)
    incident("playbook", "resume", "1", "--yes", env=user)
    bundle = reports / f"evidence-{victim['label']}.zip"
    step("Anyone who receives the bundle checks it byte for byte: every file's SHA-256, the\n"
         "   manifest's Merkle root, each raw exchange response, the audit log's chain.")
    incident("evidence", "verify", str(bundle))

    step("The platform's response to the leak of its users' sub-account keys: ingest the\n"
         "   dump, match, disconnect each key, revoke each through the master key (a second\n"
         "   responder approves), prove each dead, mail each user once (a real SMTP server\n"
         "   on 127.0.0.1 keeps the mails in demo-output/mail/), tell the security webhook.")
    platform = platform_scenario.build(accounts_file, out / "platform", count=5, shared=5)
    with MailSink(webhook_secret="demo-webhook-secret", outdir=out / "mail") as sink:
        SERVERS.extend([("the mail server", f"smtp://{sink.smtp_host}:{sink.smtp_port}"),
                        ("the webhook server", sink.url)])
        m = platform.master  # registered above
        incident("keys", "import", str(platform.fingerprints))
        settings = {"INCIDENT_SMTP_HOST": sink.smtp_host,
                    "INCIDENT_SMTP_PORT": str(sink.smtp_port),
                    "INCIDENT_SMTP_FROM": "security@botly.invalid",
                    "INCIDENT_SMTP_LOOKUP_URL": sink.url + "/messages/lookup",
                    "INCIDENT_WEBHOOK_SECRET": "demo-webhook-secret",
                    **_credential(m, "INCIDENT_MASTER_"), "USER": "first-responder",
                    "LOGNAME": "first-responder"}
        args = ["playbook", "run", "platform-bulk-response"]
        for name, value in (("dump", platform.dump), ("accounts", platform.accounts),
                            ("master", m["label"]), ("credentials", platform.credentials),
                            ("base_url", url), ("disable_url", sink.url + "/admin/keys/disable"),
                            ("webhook", sink.url + "/hooks/security"), ("platform", "Botly"),
                            ("reports", out / "reports")):
            args += ["--input", f"{name}={value}"]
        incident(*args, "--dry-run", env=settings)
        incident(*args, "--yes", env=settings, expect=1)
        incident("playbook", "approve", "2", "revoke", "--note", "5 keys, list checked",
                 env={**settings, "USER": "second-responder", "LOGNAME": "second-responder"})
        incident("playbook", "resume", "2", "--yes", env=settings)
        incident("playbook", "status", "2")
        stats = sink.stats()
        print(f"  the mail server received {stats['messages']} mails for "
              f"{len(stats['by_recipient'])} users ({platform.users} affected); the webhook "
              f"{stats['webhooks']} signed delivery", flush=True)
    step("The audit log: every action, approval and note, chained by SHA-256.")
    incident("audit", "verify")
    incident("audit", "export", str(out / "audit.jsonl"))


def _summary(out: Path) -> None:
    """Where everything is, how to look at it, and proof that nothing is left running.
    tests/e2e/test_newcomer.py reads these lines: each `NAME: PATH` names a file or folder
    the demo made, each `check: COMMAND` a command that must succeed."""
    reports = out / "reports"
    cli = Path(sys.executable).parent / "incident"
    incident_report, = (p for p in reports.glob("incident-*.html"))
    head = json.loads(subprocess.run(
        [sys.executable, "-m", "incident", "audit", "verify", "--json"], env=ENV, cwd=ROOT,
        capture_output=True, text=True, check=True).stdout)["head"]

    def formats(html: Path) -> str:
        return f"{_shown(html)}  (and .md, .json, .pdf)"

    step("Where everything is")
    print(f"""  exposure report (user-0001's keys): {formats(reports / 'exposure.html')}
  claim report (user-0001-binance): {formats(reports / 'claim-user-0001-binance.html')}
  evidence bundle: {_shown(reports / 'evidence-user-0001-binance.zip')}
    check: {_shown(cli)} evidence verify {_shown(reports / 'evidence-user-0001-binance.zip')}
  incident report (the platform's response): {formats(incident_report)}
  audit log export: {_shown(out / 'audit.jsonl')}
    check: {_shown(cli)} audit verify --file {_shown(out / 'audit.jsonl')} --head {head}
  mails sent: {_shown(out / 'mail')}
  the platform's data: {_shown(out / 'home')}
    check: INCIDENT_HOME={_shown(out / 'home')} {_shown(cli)} audit verify
  user-0001's data: {_shown(out / 'user-home')}
    check: INCIDENT_HOME={_shown(out / 'user-home')} {_shown(cli)} audit verify
  exposure page (static): {_shown(out / 'exposure-site')}

Open the exposure page:
  python3 -m http.server --bind 127.0.0.1 --directory {_shown(out / 'exposure-site')} 8000
  then http://127.0.0.1:8000/ in a browser (paste a key from sample_dumps/registry/
  platform_users.csv: it is hashed in the page; only a 5-hex prefix is sent).
  Or live, over the platform's data: INCIDENT_HOME={_shown(out / 'home')} {_shown(cli)} serve""",
          flush=True)
    for name, url in SERVERS:
        where = urlsplit(url)
        with socket.socket() as s:
            if s.connect_ex((where.hostname or "", where.port or 0)) == 0:
                sys.exit(f"demo failed: {name} ({url}) is still running")
    print("\nNothing is left running: " + ", ".join(f"{n} ({u})" for n, u in SERVERS)
          + " are stopped.", flush=True)


def _shown(path: Path) -> str:
    """PATH as the reader can type it: relative to the working directory when inside it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _show_page(url: str) -> None:
    """The page a browser gets: it checks a key itself, in the browser."""
    with urllib.request.urlopen(url + "/", timeout=10) as answer:
        page = answer.read()
        csp = answer.headers.get("Content-Security-Policy", "")
    print(f"$ curl {url}/\n  {answer.status}: the exposure page ({len(page)} bytes; "
          f"Content-Security-Policy: {csp[:60]}...)", flush=True)


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
        SERVERS.append(("the exposure service", url))
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
    installs it into .venv-ggshield; else the one on PATH, as `pipx install ggshield` puts
    it). `-n none`: ggshield names a secret by its hash, not by its first characters."""
    installed = ROOT / ".venv-ggshield" / "bin" / "ggshield"
    ggshield = installed if installed.exists() else shutil.which("ggshield")
    shown = f"GITGUARDIAN_HMSL_URL={url} ggshield hmsl check -n none - --json  < (the key)"
    if not ggshield:
        print(f"$ {shown}\n  (ggshield is not installed here; `make test` installs it)")
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITGUARDIAN")}
    proc = subprocess.run([str(ggshield), "hmsl", "check", "-n", "none", "-", "--json"],
                          input=key + "\n",
                          capture_output=True, text=True, timeout=120,
                          env={**env, "GITGUARDIAN_HMSL_URL": url, "HOME": str(out / "gg")})
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    print(f"$ {shown}\n  leaks_count: {report['leaks_count']} (count "
          f"{report['leaks'][0]['count'] if report['leaks'] else 0})", flush=True)


ENV: dict[str, str] = {}
SERVERS: list[tuple[str, str]] = []  # (what, URL) of every server the demo started

if __name__ == "__main__":
    main()
