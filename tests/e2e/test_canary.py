"""Non-negotiable 1: seed unique secrets, run every command, search everything written.

Every command runs as a real process (tracebacks, progress and all) with its data
directory and TMPDIR under watch; every byte it printed is recorded. Later commands join
`test_every_command_leaves_no_plaintext`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

from incident.fingerprint import hmsl
from scripts.loopback import serve_pages
from tests.canary import Canary
from tests.conftest import run_incident
from tests.e2e.test_prompt import run_with_prompts


def _workspace(canary: Canary, tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """inputs/ (the test's own files, which hold the secrets: not watched), and the data
    directory and TMPDIR under watch; the environment that points the commands at them."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    home = canary.watch(tmp_path / "home")
    tmp = canary.watch(tmp_path / "tmp")
    tmp.mkdir()
    return inputs, home, {"INCIDENT_HOME": str(home), "TMPDIR": str(tmp)}


def test_every_command_leaves_no_plaintext(canary: Canary, tmp_path: Path) -> None:
    inputs, home, env = _workspace(canary, tmp_path)
    s = canary.secrets

    def incident(*args: object, input: str | None = None, expect: int = 0) -> None:
        result = run_incident(*map(str, args), env=env, input=input)
        canary.record(f"incident {' '.join(map(str, args))}", result.stdout + result.stderr)
        assert result.code == expect, (args, result.stderr)

    def write(name: str, text: str) -> Path:
        path = inputs / name
        path.write_text(text)
        return path

    # Registered from standard input and from hidden prompts (a real terminal).
    incident("keys", "add", "--exchange", "okx", "--label", "stdin-key", "--stdin",
             input=f"{s[0]}\n{s[1]}\n{s[2]}\n")
    code, screen = run_with_prompts(["keys", "add", "--exchange", "binance", "--label",
                                     "typed-key"], [s[3], s[4], ""], env)
    canary.record("incident keys add (prompts)", screen)
    assert code == 0, screen

    # Plaintext files, with and without hmsl.
    good = write("good.csv", f"exchange,label,api_key,api_secret,passphrase\n"
                             f"kucoin,file-key,{s[5]},{s[6]},{s[7]}\n")
    incident("keys", "import", good)
    incident("keys", "import", "--json", good)  # again: unchanged
    incident("keys", "remove", "file-key")
    incident("keys", "import", "--hmsl", good)

    # Bad files whose bad rows carry secrets: every message names places, never values.
    bad = {
        "ragged.csv": f"exchange,label,api_key,api_secret\nbinance,r,{s[0]}\n",
        "shifted.csv": f"exchange,label,api_key,api_secret\n{s[1]},x,{s[2]},{s[3]}\n",
        "no-label.csv": f"exchange,label,api_key,api_secret\nbinance,,{s[4]},{s[5]}\n",
        "clash.csv": f"exchange,label,api_key\nbinance,again,{s[0]}\nbinance,again2,{s[0]}\n",
        "control.csv": f"exchange,label,api_key,api_secret\nbinance,c,{s[6]}\x01,{s[7]}\n",
        "quoted.csv": f'exchange,label,api_key\nbinance,q,"{s[1]}\n',
        # a header whose newline is missing runs into the first row
        "run-on.csv": f"exchange,label,api_key,api_secret,passphraseokx,m,{s[2]},{s[3]},"
                      f"{s[4]}\n",
        "mixed.csv": f"exchange,label,api_key\n{s[5][:20]},m,{s[6]}\n",
    }
    for name, text in bad.items():
        incident("keys", "import", write(name, text), expect=3)
        incident("--debug", "keys", "import", inputs / name, expect=3)
    mapping = write("mapping.txt", f"{hmsl(s[2]).hex()}:{s[2]}\n"  # -n cleartext
                    f'{hmsl(chr(34) + s[3] + chr(34)).hex()}:"{s[3]}"\n')  # ggshield keeps quotes
    incident("keys", "import", "--exchange", "binance", mapping, expect=3)
    # a key pasted on the command line by mistake
    incident("keys", "add", "--exchange", "okx", "--label", "p", s[4], expect=2)
    incident("keys", "add", "--exchange", "okx", "--label", "p", f"--{s[5]}", expect=2)
    incident("keys", "list", "--limit", s[6], expect=2)
    incident("keys", "add", "--exchange", "binanse", "--label", "z", "--stdin",
             input=f"{s[0]}\n", expect=3)
    incident("keys", "add", "--exchange", "okx", "--label", "dup", "--stdin",
             input=f"{s[0]}\n", expect=3)  # already registered as stdin-key
    incident("keys", "import", inputs, expect=3)  # a directory

    incident("keys", "list")
    incident("keys", "list", "--json")
    incident("--debug", "keys", "remove", "stdin-key", "nobody", expect=3)
    incident("keys", "remove", "stdin-key", "typed-key")

    assert (home / "incident.db").exists() and os.listdir(env["TMPDIR"]) == []
    # the fixture's teardown searches home, tmp and every recorded output


def test_the_canary_finds_what_is_written(tmp_path: Path) -> None:
    c = Canary(count=2)
    watched = c.watch(tmp_path)
    (watched / "a.log").write_text(f"prefix {c.secrets[1][20:33]} suffix")
    (watched / "b.db-wal").write_bytes(c.secrets[0][-12:].encode("utf-16-le"))
    c.record("stderr", f"error: {c.secrets[0][5:17]}")
    found = c.findings()
    assert len(found) == 3 and any("a.log" in f for f in found)
    assert any("b.db-wal" in f for f in found) and any("stderr" in f for f in found)
    c2 = Canary(count=1)
    c2.record("stdout", c2.secrets[0][:11])  # 11 characters: below the piece length
    assert c2.findings() == []


def _dump_files(s: list[str]) -> dict[str, bytes]:
    """One file per format a dump comes in, each holding canary secrets (s[i] Binance-
    shaped: 64 letters and digits)."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["title"])
    sheet.append(["Exchange", "API Key", "Secret Key"])
    sheet.append(["binance", s[0], s[1]])
    xlsx = io.BytesIO()
    book.save(xlsx)
    telegram = {"name": "leaks", "type": "public_channel", "id": 1, "messages": [
        {"id": 7, "type": "message", "date": "2022-12-28T10:00:00", "text": [
            "Binance API: ", {"type": "code", "text": s[2]}, "\nSecret: ",
            {"type": "code", "text": s[3]}]}]}
    return {
        "dump.csv": f"id,exchange,api_key,api_secret\n1,binance,{s[4]},{s[5]}\n".encode(),
        "dump.tsv": f"API Key\tSecret Key\n{s[6]}\t{s[7]}\n".encode(),
        "semi.csv": f"key;secret;passphrase\n{s[8]};{s[9]};pw-{s[10][:10]}\n".encode(),
        "pipe.txt": f"exchange | key | secret\nbinance | {s[11]} | {s[12]}\n".encode(),
        "dump.json": json.dumps({"users": [{"api": {"key": s[13], "secret": s[14]}}]}).encode(),
        "dump.jsonl": (json.dumps({"apiKey": s[15], "apiSecret": s[16]}) + "\n"
                       + json.dumps({"apiKey": s[17], "apiSecret": s[18]}) + "\n").encode(),
        "config.yaml": f"exchange:\n  name: binance\n  key: {s[19]}\n  secret: {s[20]}\n".encode(),
        "config.toml": f'[binance]\napi_key = "{s[21]}"\napi_secret = "{s[22]}"\n'.encode(),
        ".env": f"BINANCE_API_KEY={s[23]}\nBINANCE_API_SECRET={s[24]}\n".encode(),
        "bot.py": f"import ccxt\nex = ccxt.binance({{'apiKey': '{s[25]}', "
                  f"'secret': '{s[26]}'}})\n".encode(),
        "bot.js": f"const ex = new ccxt.binance({{ apiKey: '{s[27]}', secret: '{s[28]}' }})\n"
                  .encode(),
        "page.html": f"<html><body><pre>{s[29]}:{s[30]}</pre></body></html>".encode(),
        "result.json": json.dumps(telegram).encode(),
        "messages.html": (f'<html><body><div class="message default clearfix" id="message9">'
                          f'<div class="text">key {s[31]}<br>secret {s[32]}</div></div>'
                          f"</body></html>").encode(),
        "dump.sql": (f"CREATE TABLE `k` (`id` int, `api_key` varchar(64), `api_secret` text);\n"
                     f"INSERT INTO `k` VALUES (1,'{s[33]}','{s[34]}'),(2,'{s[35]}','{s[36]}');\n"
                     ).encode(),
        "pg.sql": (f"COPY public.k (id, api_key, api_secret) FROM stdin;\n1\t{s[37]}\t{s[38]}\n"
                   f"\\.\n").encode(),
        "keys.xlsx": xlsx.getvalue(),
        "lines.txt": f"{s[39]}:{s[40]}\n\n{s[41]} {s[42]}\n".encode("utf-16"),
        "cp1252.csv": f"key,secret,note\n{s[43]},{s[44]},café\n".encode("cp1252"),
    }


def test_ingest_leaves_no_plaintext(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every source and format, good and bad input, every dumps command: nothing written
    or printed holds a piece of a secret."""
    import gzip
    import tarfile
    import zipfile

    import responses

    from incident.cli import run

    canary = Canary(count=60)
    s = canary.secrets
    inputs, home, env = _workspace(canary, tmp_path)

    def incident(*args: object, expect: int = 0) -> str:
        result = run_incident(*map(str, args), env=env)
        canary.record(f"incident {' '.join(map(str, args))}", result.stdout + result.stderr)
        assert result.code == expect, (args, result.stderr)
        return result.stdout

    files = _dump_files(s)
    for name, data in files.items():
        (inputs / name).write_bytes(data)
    out = json.loads(incident("ingest", "--json", *(inputs / n for n in files)))
    assert [d["credentials"] > 0 for d in out["dumps"]] == [True] * len(files), out

    # Archives: zip, tar.gz with a nested zip, gz, bz2, xz; a directory.
    import bz2
    import lzma
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("in/a.csv", f"key,secret\n{s[45]},{s[46]}\n")
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w:gz") as tf:
        info = tarfile.TarInfo("release/inner.zip")
        info.size = len(z.getvalue())
        tf.addfile(info, io.BytesIO(z.getvalue()))
    archives = {"a.zip": z.getvalue(), "a.tar.gz": t.getvalue(),
                "b.csv.gz": gzip.compress(f"key,secret\n{s[47]},{s[48]}\n".encode()),
                "c.csv.bz2": bz2.compress(f"key,secret\n{s[49]},{s[50]}\n".encode()),
                "d.csv.xz": lzma.compress(f"key,secret\n{s[51]},{s[52]}\n".encode())}
    for name, data in archives.items():
        (inputs / name).write_bytes(data)
    incident("ingest", *(inputs / n for n in archives))
    incident("ingest", "--name", "the whole folder", inputs)

    # Bad input whose bad parts hold secrets: messages name places only.
    bad = {
        "ragged.csv": (f"id,key,secret\n1,{s[53]}\n2,{s[54]},{s[55]},{s[56]}\n"
                       f"3,{s[57]},{s[58]}\n4,{s[59]},{s[0]}\n5,{s[1]},{s[2]}\n").encode(),
        "bad.json": f'{{"key": "{s[57]}", "secret": {s[58]}}}'.encode(),
        "bad.jsonl": f'{{"key": "{s[57]}"}}\n{{"key": {s[58]}}}\n'.encode(),
        "bad.yaml": f"key: [{s[59]}\nsecret: {{{s[0]}\n".encode(),
        "bad.toml": f'key = "{s[1]}\nsecret = {s[2]}\n'.encode(),
        "bad.sql": f"INSERT INTO k (a, b) VALUES ('{s[3]}', '{s[4]}\n".encode(),
        "cut.zip": z.getvalue()[:60],
        "cut.gz": gzip.compress(f"key,secret\n{s[5]},{s[6]}\n".encode())[:30],
        "garbage.bin": b"\x00\x01" + s[7].encode() + b"\x00" * 20,
        "utf16-broken.txt": b"\xff\xfe" + s[8].encode("utf-16-le")[:-1] + b"\x00\xd8",
        "quote.csv": f'key,secret\n"{s[9]},{s[10]}\n'.encode(),
    }
    for name, data in bad.items():
        (inputs / "bad").mkdir(exist_ok=True)
        (inputs / "bad" / name).write_bytes(data)
        incident("--debug", "ingest", "--strict", inputs / "bad" / name,
                 expect=_expected_code(name, strict=True))  # first: stores nothing
        incident("ingest", inputs / "bad" / name, expect=_expected_code(name))

    # A paste page over real HTTP on loopback, and its raw link.
    pages = {"/p/abc": ("text/html", f'<html><body><textarea>{s[11]}:{s[12]}</textarea>'
                                     f'<a href="/raw/abc">raw</a></body></html>'.encode()),
             "/raw/abc": ("text/plain", f"{s[13]} {s[14]}\n".encode())}
    with serve_pages(pages) as base:
        incident("ingest", f"{base}/p/abc?token={s[15]}")
        incident("ingest", f"{base}/missing?token={s[16]}", expect=3)

    # Twitter, replayed: in this process (responses patches requests here).
    monkeypatch.setenv("INCIDENT_HOME", str(home))
    monkeypatch.setenv("INCIDENT_TWITTER_BEARER_TOKEN", f"FAKE{s[17]}")
    api = "https://api.twitter.com/2"
    tweets = {"data": [{"id": "1590000000000000009", "text": f"key {s[18]} secret {s[19]}",
                        "author_id": "1", "created_at": "2022-12-28T10:00:00.000Z"}],
              "meta": {"newest_id": "1590000000000000009",
                       "oldest_id": "1590000000000000009", "result_count": 1}}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{api}/users/by/username/leakwatch",
                 json={"data": {"id": "1", "name": "L", "username": "leakwatch"}})
        mock.get(f"{api}/users/1/tweets", json=tweets)
        mock.get(f"{api}/tweets/search/recent", status=429,
                 headers={"x-rate-limit-reset": "1700000125"}, json={"title": "Too Many"})
        for args, code in ((["ingest", "twitter:@leakwatch"], 0),
                           (["ingest", "twitter:@leakwatch"], 0),  # nothing new
                           (["--debug", "ingest", f"twitter:search:{s[20]}"], 4)):
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                assert run(args) == code
            canary.record(f"incident {' '.join(args)}", stdout.getvalue() + stderr.getvalue())

    # Register some of the leaked keys, then match: labels and places only.
    registry_file = inputs / "mine.csv"
    registry_file.write_text(f"exchange,label,api_key,api_secret\nbinance,mine-1,{s[4]},{s[5]}\n"
                             f"binance,mine-2,{s[43]},{s[44]}\n")
    incident("keys", "import", registry_file)
    incident("match", expect=1)
    incident("match", "--json", expect=1)
    for args, stdin, code in ((("check", "--stdin"), f"{s[6]}\n{s[7]}\n\n", 1),
                              (("check", "--stdin", "--json"), f"{s[45]}\n\n\n", 1),
                              (("check", "--stdin"), f"{s[0]}{s[1]}\n\n\n", 0)):
        result = run_incident(*args, env=env, input=stdin)
        canary.record(f"incident {' '.join(args)}", result.stdout + result.stderr)
        assert result.code == code, (args, result.stderr)
    listed = json.loads(incident("dumps", "list", "--json"))
    assert len(listed) >= len(files) + len(archives) + 3
    for d in listed:
        incident("dumps", "show", d["id"])
        incident("dumps", "show", "--json", d["id"])
    incident("dumps", "remove", listed[0]["id"])
    incident("dumps", "list")
    canary.assert_clean()
    assert os.listdir(env["TMPDIR"]) == []


def _expected_code(name: str, strict: bool = False) -> int:
    """A file wholly unreadable fails (3); one with some bad records lands, unless strict.
    (quote.csv's lone quote makes it no table: it is read as text lines, and lands.)"""
    unreadable = {"bad.json", "bad.yaml", "bad.toml", "cut.zip", "cut.gz", "garbage.bin",
                  "utf16-broken.txt"}
    with_bad_records = {"ragged.csv", "bad.jsonl", "bad.sql"}
    return 3 if name in unreadable or (strict and name in with_bad_records) else 0


def test_exposure_leaves_no_plaintext(tmp_path: Path) -> None:
    """ingest --hmsl, serve (asked by ggshield, by `check --server` and by raw requests,
    also bad ones that carry a full hash), publish: nothing written or printed holds a
    piece of a secret or of its full hash."""
    import hashlib

    import requests

    from tests.servers import ggshield, incident_serve, static_server

    canary = Canary(count=8)
    s = canary.secrets
    inputs, home, env = _workspace(canary, tmp_path)
    site = canary.watch(tmp_path / "site")
    logs = canary.watch(tmp_path / "logs")
    logs.mkdir()

    def incident(*args: object, input: str | None = None, expect: int = 0) -> str:
        result = run_incident(*map(str, args), env=env, input=input)
        canary.record(f"incident {' '.join(map(str, args))}", result.stdout + result.stderr)
        assert result.code == expect, (args, result.stderr)
        return result.stdout

    dump = inputs / "dump.csv"
    dump.write_text("exchange,api_key,api_secret\n" + "".join(
        f"binance,{s[i]},{s[i + 1]}\n" for i in (0, 2, 4)))
    incident("ingest", "--hmsl", dump)
    incident("publish", site)
    values = inputs / "values.txt"
    values.write_text(f"{s[0]}\n{s[3]}\n{s[6]}\n")
    with incident_serve(env, logs / "serve.log") as served, \
            static_server(site, logs / "static.log") as static:
        checked = ggshield("hmsl", "check", str(values), "--json", env={
            "GITGUARDIAN_HMSL_URL": served.url, "HOME": str(tmp_path / "gg")})
        assert json.loads(checked.stdout[checked.stdout.index("{"):])["leaks_count"] == 2
        for url in (served.url, static):
            incident("check", "--stdin", "--server", url, input=f"{s[0]}\n{s[1]}\n\n",
                     expect=1)
            incident("check", "--stdin", "--json", "--server", url,
                     input=f"{s[6]}\n{s[7]}\n\n")
        for value in (s[2], s[5]):  # full hashes where they do not belong
            digest = hashlib.sha256(value.encode()).hexdigest()
            answer = requests.get(f"{served.url}/v1/range/{digest}", timeout=10)
            canary.record("GET /v1/range/<hash>", answer.text)
            answer = requests.post(f"{served.url}/v1/prefixes", json={"prefixes": [digest]},
                                   timeout=10)
            canary.record("POST /v1/prefixes <hash>", answer.text)
            assert answer.status_code == 422
    for log in ("serve.log", "static.log"):
        text = (logs / log).read_text()
        for value in s:
            for digest in (hashlib.sha256(value.encode()).hexdigest(), hmsl(value).hex()):
                assert digest[:16] not in text, log
    canary.assert_clean()


def test_exchange_commands_leave_no_plaintext(tmp_path: Path) -> None:
    """audit-key, snapshot, revoke (dry run, manual, through a master), restrict and
    verify-revoked against the simulator, whose accounts hold the canary's secrets (and
    whose own generated keys join the canary): nothing written or printed holds a piece of
    them, the simulator's access log and the snapshots' raw responses included."""
    import requests

    from scripts.loopback import sim_exchange

    canary = Canary(count=4)
    s = canary.secrets
    inputs, home, env = _workspace(canary, tmp_path)
    logs = canary.watch(tmp_path / "logs")
    logs.mkdir()

    def incident(*args: object, expect: int = 0, more: dict[str, str] | None = None) -> str:
        result = run_incident(*map(str, args), env={**env, **(more or {})})
        canary.record(f"incident {' '.join(map(str, args))}", result.stdout + result.stderr)
        assert result.code == expect, (args, result.stderr)
        return result.stdout

    keys = inputs / "keys.csv"  # the canary's keys become accounts on the simulator
    keys.write_text("exchange,label,api_key,api_secret\n"
                    f"binance,canary-binance,{s[0]},{s[1]}\nbybit,canary-bybit,{s[2]},{s[3]}\n")
    accounts = inputs / "accounts.json"
    with sim_exchange(["--keys", str(keys), "--accounts-file", str(accounts), "--victims", "2",
                       "--subaccounts", "2", "--busy-trades", "0"],
                      {**os.environ, **env}, logs / "sim.log") as (url, _):
        doc = json.loads(accounts.read_text())
        sub = next(a for a in doc["accounts"] if a["kind"] == "sub" and a["exchange"] ==
                   "binance")
        master = next(a for a in doc["accounts"] if a["label"] == sub["master_label"])
        for a in (sub, master):
            canary.secrets += [a["api_key"], a["api_secret"]]
        creds = inputs / "creds.csv"
        with open(creds, "w") as f:
            f.write("exchange,label,api_key,api_secret\n")
            for a in doc["accounts"]:
                f.write(f"{a['exchange']},{a['label']},{a['api_key']},{a['api_secret']}\n")
        incident("keys", "import", keys)
        incident("keys", "import", creds)
        common = ("--base-url", url, "--credentials", creds, "--no-keyring")
        for label in ("canary-binance", "canary-bybit"):
            incident("audit-key", label, *common, "--json")
            incident("snapshot", label, "--since", "2022-12-17", "--until", "2022-12-21",
                     *common, "--json")
            incident("verify-revoked", label, *common, expect=1)
        incident("revoke", "canary-binance", *common, "--yes", expect=1)  # manual steps
        incident("revoke", "canary-bybit", *common, "--dry-run", "--json")
        incident("restrict", "canary-bybit", *common, "--yes")
        # the key from the environment, and then a wrong one (refused, exit 3)
        incident("audit-key", "canary-binance", "--base-url", url, "--no-keyring",
                 more={"INCIDENT_API_KEY": s[0], "INCIDENT_API_SECRET": s[1]})
        incident("--debug", "audit-key", "canary-binance", "--base-url", url, "--no-keyring",
                 more={"INCIDENT_API_KEY": s[2], "INCIDENT_API_SECRET": s[3]}, expect=3)
        sub_args = ("--master", master["label"], "--sub-account", sub["sub_account"])
        incident("revoke", sub["label"], *sub_args, *common, "--yes")
        incident("revoke", sub["label"], *sub_args, *common, "--yes")  # already
        incident("verify-revoked", sub["label"], *common)
        requests.post(url + "/_sim/faults", json={"path": "/sapi/v1/account/apiRestrictions",
                                                  "status": 503, "count": 4}, timeout=10)
        incident("--debug", "audit-key", "canary-binance", *common, expect=4)
    assert list((home / "snapshots").rglob("raw/*.json"))
    canary.assert_clean()


def test_playbook_runs_leave_no_plaintext(tmp_path: Path) -> None:
    """The playbook runner, its steps, notifications and the audit commands: a platform's
    bulk response (dry run, approval, resume) and a user's 3commas-2022 (with a manual task)
    over keys the canary seeded. The mails as they arrived, the webhook and admin-endpoint
    bodies, every run's output and the audit export hold no piece of a key."""
    import requests

    from scripts import platform_scenario
    from scripts.loopback import sim_exchange
    from scripts.mailsink import MailSink

    canary = Canary(count=2)
    s = canary.secrets
    inputs, home, env = _workspace(canary, tmp_path)
    logs = canary.watch(tmp_path / "logs")
    mail = canary.watch(tmp_path / "mail")
    logs.mkdir()
    mail.mkdir()

    def incident(*args: object, expect: int = 0, more: dict[str, str] | None = None) -> str:
        result = run_incident(*map(str, args), env={**env, **(more or {})})
        canary.record(f"incident {' '.join(map(str, args))}", result.stdout + result.stderr)
        assert result.code == expect, (args, result.stderr)
        return result.stdout

    keys = inputs / "keys.csv"
    keys.write_text(f"exchange,label,api_key,api_secret\nbinance,canary-binance,{s[0]},{s[1]}\n")
    leak = inputs / "leak"
    leak.mkdir()
    (leak / "dump.csv").write_text(f"exchange,apiKey,secret\nbinance,{s[0]},{s[1]}\n")
    accounts = inputs / "accounts.json"
    with MailSink(webhook_secret="canary-webhook-secret", outdir=mail) as sink, \
            sim_exchange(["--keys", str(keys), "--accounts-file", str(accounts), "--victims",
                          "2", "--subaccounts", "4", "--busy-trades", "0"],
                         {**os.environ, **env}, logs / "sim.log") as (url, _):
        p = platform_scenario.build(accounts, inputs / "platform", count=4, shared=2)
        for a in (p.master, *p.subs):
            canary.secrets += [a["api_key"], a["api_secret"]]
        notify = {"INCIDENT_SMTP_HOST": sink.smtp_host, "INCIDENT_SMTP_PORT": str(sink.smtp_port),
                  "INCIDENT_SMTP_FROM": "security@botly.invalid",
                  "INCIDENT_SMTP_LOOKUP_URL": sink.url + "/messages/lookup",
                  "INCIDENT_WEBHOOK_SECRET": "canary-webhook-secret",
                  "INCIDENT_MASTER_API_KEY": p.master["api_key"],
                  "INCIDENT_MASTER_API_SECRET": p.master["api_secret"], "USER": "first",
                  "LOGNAME": "first"}
        master_file = inputs / "master.csv"
        master_file.write_text("exchange,label,api_key,api_secret\nbinance,"
                               f"{p.master['label']},{p.master['api_key']},"
                               f"{p.master['api_secret']}\n")
        incident("keys", "import", master_file)
        incident("keys", "import", p.fingerprints)
        incident("keys", "import", keys)
        args = ["playbook", "run", "platform-bulk-response"]
        for name, value in (("dump", p.dump), ("accounts", p.accounts),
                            ("master", p.master["label"]), ("credentials", p.credentials),
                            ("base_url", url), ("disable_url", sink.url + "/admin/keys/off"),
                            ("webhook", sink.url + "/hooks/sec")):
            args += ["--input", f"{name}={value}"]
        incident(*args, "--dry-run", "--json", more=notify)
        incident(*args, "--yes", expect=1, more=notify)
        incident("playbook", "approve", 2, "revoke", expect=2, more=notify)  # four eyes
        incident("playbook", "approve", 2, "revoke", "--note", "ok",
                 more={**notify, "USER": "second", "LOGNAME": "second"})
        incident("--debug", "playbook", "resume", 2, "--yes", "--json", more=notify)
        # a user's own run: the key from the environment, a manual task, then verified
        user = {**notify, "INCIDENT_API_KEY": s[0], "INCIDENT_API_SECRET": s[1]}
        incident("playbook", "run", "3commas-2022", "--input", f"dump={leak}", "--input",
                 f"base_url={url}", "--input", "since=2022-12-19", "--input",
                 "until=2022-12-21", "--yes", expect=1, more=user)
        requests.post(url + "/_sim/delete-key", json={"label": "canary-binance"}, timeout=10)
        incident("playbook", "approve", 3, "guide", "--note", "deleted", more=user)
        incident("playbook", "resume", 3, "--yes", more=user)
        # a wrong credential in the environment: refused, and the failure printed whole
        incident("--debug", "playbook", "run", "key-hygiene", "--input", f"base_url={url}",
                 "--yes", expect=4, more={**notify, "INCIDENT_API_KEY": s[2],
                                           "INCIDENT_API_SECRET": s[3]})
        for run in (1, 2, 3, 4):
            incident("playbook", "status", run, "--json", expect=0 if run != 4 else 4)
        incident("audit", "list", "--json")
        incident("audit", "export", home / "audit.jsonl")
        incident("audit", "verify", "--file", home / "audit.jsonl")
        # the reports and the evidence bundle, by command as well as by the playbooks' steps
        reports = home / "by-command"
        incident("report", "claim", "canary-binance", "--out", reports, "--json")
        incident("report", "exposure", "--out", reports)
        incident("report", "incident", "--out", reports)
        incident("--debug", "report", "claim", p.subs[0]["label"], "--out", reports,
                 expect=3)  # no snapshot of it: the error, with --debug's traceback
        incident("evidence", "bundle", "canary-binance", reports / "claim.zip", "--json")
        incident("evidence", "verify", reports / "claim.zip", "--json")
        assert sink.stats()["messages"] == p.users and sink.stats()["webhooks"] == 1
        for m in sink.messages:
            canary.record(f"mail to {m.to}", m.raw)
        for post in sink.posts:
            canary.record(f"POST {post.path}", json.dumps(post.body))
    assert list(mail.glob("*.eml"))
    # compressed bytes hide text from a search: read inside every bundle and every PDF
    bundles = list(home.rglob("*.zip"))
    assert len(bundles) == 2  # the 3commas-2022 run's and the command's
    for n, bundle in enumerate(bundles):
        with zipfile.ZipFile(bundle) as z:
            z.extractall(home / f"unzipped-{n}")
    pdfs = list(home.rglob("*.pdf"))
    assert len(pdfs) >= 6
    for pdf in pdfs:
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                              check=True, timeout=60).stdout
        assert b"Compensation claim" in text or b"xposure" in text or b"ncident" in text
        canary.record(f"text of {pdf.name}", text)
    canary.assert_clean()
