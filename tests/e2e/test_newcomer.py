"""A newcomer's first minutes: clone the repository, run the README's demo command there
(which builds its own .venv on the way), and find everything the demo says it made, intact,
with nothing left running.

The clone is of the committed HEAD: what someone would get, not this working tree.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from scripts.loopback import marked_processes
from tests.conftest import ROOT

# The first test builds the clone's .venv (pip) and runs the demo: more than the default
# 300 s may go by on a slow day.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FORMATS = re.compile(r"^(?P<path>\S+)\s+\(and (?P<more>[^)]*)\)$")


@dataclass(frozen=True)
class Demo:
    clone: Path
    command: str
    code: int
    transcript: str
    leftovers: list[str]  # processes the demo started that are still alive


def readme_demo_command(readme: str) -> str:
    """The first of the README's two commands (its `## Two commands` block)."""
    section = readme.split("## Two commands", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's Two commands section has no sh block"
    first = block.group(1).strip().splitlines()[0]
    return first.split("#", 1)[0].strip()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    clone = tmp_path_factory.mktemp("newcomer") / "incident"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    command = readme_demo_command((clone / "README.md").read_text())
    token = f"NEWCOMER_{uuid.uuid4().hex}"
    # A newcomer's environment: none of this checkout's virtual environments or settings,
    # no outer make's flags; ggshield on PATH (last), as `pipx install ggshield` puts it.
    ours = {str(ROOT / ".venv" / "bin"), str(ROOT / ".pipx" / "bin")}
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if p not in ours] + [str(ROOT / ".venv-ggshield" / "bin")]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INCIDENT_", "VIRTUAL_ENV", "PYTHON", "GITGUARDIAN", "MAKE",
                                "MFLAGS"))}
    env.update({"PATH": os.pathsep.join(path), token: "1"})  # the token: inherited by all
    transcript = clone.parent / "demo.log"
    with open(transcript, "w") as out:
        proc = subprocess.Popen(command, shell=True, cwd=clone, env=env, text=True,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=780)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"`{command}` did not end in 780 s: {transcript}")
    return Demo(clone, command, code, transcript.read_text(), marked_processes(token))


def summary(transcript: str) -> tuple[dict[str, Path], list[str], str]:
    """The demo's last words: what it made (name -> path), the checks it names, and how to
    open the exposure page."""
    tail = transcript.split("== Where everything is\n", 1)[1]
    listing, rest = tail.split("\n\n", 1)
    made: dict[str, Path] = {}
    checks = []
    for line in listing.splitlines():
        name, _, value = line.strip().partition(": ")
        if name == "check":
            checks.append(value)
        else:
            made[name] = Path(value)
    return made, checks, rest


def test_the_readme_demo_command_runs_in_a_fresh_clone(demo: Demo) -> None:
    assert demo.command == "make demo"
    assert demo.code == 0, demo.transcript[-5000:]
    assert not demo.leftovers, demo.leftovers  # how long it takes: benchmarks/demo.py


def test_every_artefact_it_names_exists(demo: Demo) -> None:
    made, _, _ = summary(demo.transcript)
    assert {"exposure report (user-0001's keys)", "claim report (user-0001-binance)",
            "evidence bundle", "incident report (the platform's response)",
            "audit log export"} <= made.keys(), made
    for name, shown in made.items():
        path = FORMATS.match(str(shown))
        base = demo.clone / (path.group("path") if path else shown)
        assert base.exists(), (name, base)
        if path:
            for suffix in path.group("more").split(", "):
                assert base.with_suffix(suffix).stat().st_size > 0, (name, suffix)
            assert base.with_suffix(".pdf").read_bytes().startswith(b"%PDF-")
            assert base.read_text().lstrip().lower().startswith("<!doctype html>")
    bundle = demo.clone / made["evidence bundle"]
    assert "manifest.json" in zipfile.ZipFile(bundle).namelist()
    assert len(list((demo.clone / made["mails sent"]).glob("*.eml"))) == 4


def test_every_check_it_names_passes(demo: Demo) -> None:
    _, checks, _ = summary(demo.transcript)
    assert any(" evidence verify " in c for c in checks), checks
    assert sum(" audit verify" in c for c in checks) == 3, checks
    for check in checks:
        words = shlex.split(check)
        env = dict(os.environ)
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            env[name] = str(demo.clone / value)
        proc = subprocess.run(words, cwd=demo.clone, env=env, text=True,
                              capture_output=True, timeout=120)
        assert proc.returncode == 0, (check, proc.stdout, proc.stderr)
        assert re.search(r"(bundle|audit log) intact", proc.stdout + proc.stderr), check


def test_the_exposure_page_opens_as_it_says(demo: Demo) -> None:
    _, _, how = summary(demo.transcript)
    served = re.search(r"^\s*(python3 -m http\.server .*) (8000)$", how, re.M)
    assert served, how
    assert "--bind 127.0.0.1" in served.group(1)  # never on every address
    assert "http://127.0.0.1:8000/" in how
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(shlex.split(served.group(1)) + [str(port)], cwd=demo.clone,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the page's server did not start"
                time.sleep(0.1)
        assert page.status_code == 200 and "check.js" in page.text
        assert requests.get(f"http://127.0.0.1:{port}/check.js", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_nothing_is_left_listening(demo: Demo) -> None:
    assert "Nothing is left running" in demo.transcript
    before_the_end = demo.transcript.split("== Where everything is")[0]
    started = set(re.findall(r"(?:http|smtp)://127\.0\.0\.1:(\d+)", before_the_end))
    started |= set(re.findall(r"\((?:http|smtp)://127\.0\.0\.1:(\d+)\)", demo.transcript))
    assert len(started) >= 5, started  # paste site, service, exchange, SMTP, webhooks
    for port in started:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", int(port))) != 0, f"port {port} still listens"
    assert not demo.leftovers, demo.leftovers


def test_the_demo_tells_the_whole_story(demo: Demo) -> None:
    out = demo.transcript
    # the registry, the dumps (one through a replayed paste page), the match
    assert "24 rows: 24 added, 0 already registered" in out
    assert "24 rows: 0 added, 24 already registered" in out
    assert "this key is already registered as 'user-0004-okx'" in out
    assert "registered 'alice-okx' (okx)" in out
    assert "dump 1 '3Commas release (2022)': 200 credentials" in out
    assert "already ingested as dump 1 ('3Commas release (2022)'" in out
    assert "dump 2 'paste AbC123': 12 credentials" in out
    assert "release-cut.tar.gz!release-cut.tar: corrupt or truncated" in out
    assert "7 dumps" in out
    assert "5 of 39 registered keys exposed" in out
    # the user's check, locally and by k-anonymity; the page served
    assert "EXPOSED: the key and its secret are in 2 dumps" in out
    assert "EXPOSED: the key is in a leak" in out
    assert "entries (hint + encrypted payload), padded" in out
    assert re.search(r"200: the exposure page \(\d+ bytes", out)
    # ggshield, from PATH (`make test` installs it apart, as pipx would)
    assert "leaks_count: 1 (count 2)" in out
    # the exchange: the attack replayed, a snapshot, the manual steps, a revocation
    assert re.search(r"the attack: \d+ market orders in \d+ accounts", out)
    assert "user-0001-binance (binance), 2022-12-17T00:00:00.000Z to" in out
    assert "1. Log in to Binance and open Account > API Management." in out
    assert "revoke done via api:master: deleted the key of sub-account" in out
    assert "refused the key (code -2015)" in out
    assert "revoke already via api:master" in out
    # the playbooks: the user's run waits for the manual deletion, then proves the key dead
    # and builds the claim; the platform's waits for a second responder, then revokes,
    # proves and mails
    assert "waits for a person: 1 task (user-0001-binance)" in out
    assert "verify[user-0001-binance]: revoked" in out
    assert re.search(r"claim\[user-0001-binance\]: evidence bundle evidence-user-0001-binance"
                     r"\.zip: \d+ files, Merkle root [0-9a-f]{16}", out)
    assert re.search(r"bundle intact: \d+ files, Merkle root [0-9a-f]{64}", out)
    assert "needs approval (anyone other than first-responder)" in out
    assert "approved by second-responder" in out
    assert out.count("run 1: done") == 2 and "run 2: done" in out
    assert "the mail server received 4 mails for 4 users (4 affected)" in out
    assert re.search(r"audit log intact: \d+ entries", out)
    # files stay private
    snapshot, = (demo.clone / "demo-output" / "home" / "snapshots" / "user-0001-binance").iterdir()
    assert (snapshot / "snapshot.json").stat().st_mode & 0o777 == 0o600
    assert (demo.clone / "demo-output" / "sim-accounts.json").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (demo.clone / "demo-output" / "home").iterdir()) == [
        "exposure.key", "incident.db", "runs", "snapshots"]
