"""Playbooks run against the simulated exchange, a real SMTP server and a real webhook
receiver on loopback (scripts/mailsink.py): what the exchange, the mail server and the
receiver count is what happened."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from incident import audit
from incident.settings import Settings
from incident.store import Store
from scripts import loopback, platform_scenario
from scripts.mailsink import MailSink
from tests.conftest import ROOT

SECRET = "whsec-test-0123456789"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("sim")
    accounts = tmp / "accounts.json"
    with loopback.sim_exchange(["--accounts-file", str(accounts), "--subaccounts", "60",
                                "--victims", "2", "--busy-trades", "0", "--no-access-log"],
                               os.environ, tmp / "sim.log") as (url, _):
        yield {"url": url, "file": accounts, "doc": json.loads(accounts.read_text())}


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink(webhook_secret=SECRET) as s:
        yield s


def stats(sim: dict[str, Any]) -> dict[str, Any]:
    return requests.get(sim["url"] + "/_sim/stats", timeout=10).json()  # type: ignore[no-any-return]


def settings_env(sink: MailSink, master: dict[str, str] | None = None) -> dict[str, str]:
    env = {"INCIDENT_SMTP_HOST": sink.smtp_host, "INCIDENT_SMTP_PORT": str(sink.smtp_port),
           "INCIDENT_SMTP_FROM": "security@botly.invalid",
           "INCIDENT_SMTP_LOOKUP_URL": sink.url + "/messages/lookup",
           "INCIDENT_WEBHOOK_SECRET": SECRET}
    if master:
        env.update(INCIDENT_MASTER_API_KEY=master["api_key"],
                   INCIDENT_MASTER_API_SECRET=master["api_secret"])
    return env


def platform(cli, sim, tmp_path: Path, first: int, count: int,  # type: ignore[no-untyped-def]
             shared: int = 4) -> platform_scenario.Platform:
    """`count` sub-account keys from the `first`th (each test its own), registered by
    fingerprint, with the master registered too."""
    p = platform_scenario.build(sim["file"], tmp_path / "platform", count=count, first=first,
                                shared=shared)
    m = p.master
    r = cli("keys", "add", "--exchange", "binance", "--label", m["label"], "--stdin",
            input=f"{m['api_key']}\n{m['api_secret']}\n\n")
    assert r.code == 0, r.stderr
    assert cli("keys", "import", p.fingerprints).code == 0
    return p


def inputs(p: platform_scenario.Platform, sim: dict[str, Any], sink: MailSink) -> list[str]:
    pairs = {"dump": p.dump, "accounts": p.accounts, "master": p.master["label"],
             "credentials": p.credentials, "base_url": sim["url"],
             "disable_url": sink.url + "/admin/keys/disable",
             "webhook": sink.url + "/hooks/security", "platform": "Botly"}
    return [a for k, v in pairs.items() for a in ("--input", f"{k}={v}")]


def revocations(sim: dict[str, Any], p: platform_scenario.Platform) -> dict[str, int]:
    done = stats(sim)["revocations"]
    return {s["label"]: done.get(s["label"], 0) for s in p.subs}


def test_platform_bulk_response(cli, sim, sink, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    p = platform(cli, sim, tmp_path, first=0, count=12)
    for k, v in settings_env(sink, p.master).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("USER", "carol")
    monkeypatch.delenv("LOGNAME", raising=False)
    args = ("playbook", "run", "platform-bulk-response", *inputs(p, sim, sink))

    r = cli(*args, "--dry-run")
    assert r.code == 0, r.stderr
    assert "would POST" in r.stderr and "would e-mail user-0000@users.invalid" in r.stderr
    assert set(revocations(sim, p).values()) == {0}
    assert sink.stats()["messages"] == 0 and sink.stats()["webhooks"] == 0
    assert sink.stats()["requests"].get("/admin/keys/disable", 0) == 0

    assert cli(*args).code == 2  # no terminal to confirm on, and no --yes
    r = cli(*args, "--yes")
    assert r.code == 1, r.stderr  # waits for a second person
    assert "needs approval (anyone other than carol)" in r.stderr
    run_id = 3 - 1  # the dry run was run 1
    r = cli("playbook", "approve", run_id, "revoke")
    assert r.code == 2 and "four eyes: carol started run 2" in r.stderr
    monkeypatch.setenv("USER", "dave")
    assert cli("playbook", "approve", run_id, "revoke", "--note", "list checked").code == 0
    monkeypatch.setenv("USER", "carol")
    r = cli("playbook", "resume", run_id, "--yes")
    assert r.code == 0, r.stderr

    assert revocations(sim, p) == {s["label"]: 1 for s in p.subs}
    st = sink.stats()
    assert st["messages"] == p.users == 9 and set(st["by_recipient"].values()) == {1}
    assert st["webhooks"] == 1 and st["bad_signatures"] == 0
    assert st["requests"]["/admin/keys/disable"] == 12
    hook, = (x.body for x in sink.posts if x.path == "/hooks/security")
    assert hook["event"] == "incident-response-done" and len(hook["keys"]) == 12
    assert hook["incident"]["name"] == f"platform-bulk-response (run {run_id})"
    assert hook["incident"]["dump"]  # the dump's name, as the mails give it
    shared = next(m for m in sink.messages if m.to == ("user-0002@users.invalid",))
    text = shared.message.get_body(("plain",)).get_content()
    assert "binance-sub-003" in text and "binance-sub-004" in text
    assert text.count("revoked on the exchange") == 2

    report = json.loads(cli("playbook", "status", run_id, "--json").stdout)
    assert report["run"]["status"] == "done"
    assert {s["id"]: s["status"] for s in report["steps"]} == {
        "ingest": "done", "match": "done", "accounts": "done", "disable": "done",
        "revoke": "done", "verify": "done", "notify": "done", "tell_team": "done",
        "report": "done"}
    assert report["steps"][4]["items"] == {"done": 12}
    assert [(a["kind"], a["by"]) for a in report["approvals"]] == [("approval", "dave")]
    assert cli("audit", "verify").code == 0

    r = cli("playbook", "resume", run_id, "--yes")  # done is done
    assert r.code == 0 and sink.stats()["messages"] == 9
    assert revocations(sim, p) == {s["label"]: 1 for s in p.subs}


def test_failed_items_are_taken_up_again_on_resume(cli, sim, sink, tmp_path,  # type: ignore[no-untyped-def]
                                                   monkeypatch) -> None:
    p = platform(cli, sim, tmp_path, first=12, count=4, shared=0)
    for k, v in settings_env(sink).items():  # no master credential yet
        monkeypatch.setenv(k, v)
    playbook = tmp_path / "no-approval.yaml"
    text = (ROOT / "playbooks" / "platform-bulk-response.yaml").read_text()
    playbook.write_text(text.replace("    approval: {four_eyes: true}\n", "")
                        .replace("name: platform-bulk-response", "name: bulk-unattended"))
    r = cli("playbook", "run", playbook, *inputs(p, sim, sink), "--yes")
    assert r.code == 4, r.stderr
    assert "4 item(s) failed (revoke 4)" in r.stderr
    assert "no credential for 'binance-platform-master'" in r.stderr
    assert set(revocations(sim, p).values()) == {0}
    assert sink.stats()["messages"] == 4  # told: their keys are not revoked yet
    assert all("not revoked yet" in m.message.get_body(("plain",)).get_content()
               for m in sink.messages)

    for k, v in settings_env(sink, p.master).items():
        monkeypatch.setenv(k, v)
    r = cli("playbook", "resume", 1, "--yes")
    assert r.code == 0, r.stderr
    assert "verify: taken up again (4 new item(s))" in r.stderr
    assert revocations(sim, p) == {s["label"]: 1 for s in p.subs}
    assert sink.stats()["messages"] == 4  # each told once, as the run promised


def test_a_write_without_its_recorded_end_is_checked_before_it_is_repeated(  # type: ignore[no-untyped-def]
        cli, sim, sink, tmp_path, monkeypatch, home) -> None:
    p = platform(cli, sim, tmp_path, first=16, count=2, shared=0)
    for k, v in settings_env(sink, p.master).items():
        monkeypatch.setenv(k, v)
    playbook = tmp_path / "quick.yaml"
    playbook.write_text((ROOT / "playbooks" / "platform-bulk-response.yaml").read_text()
                        .replace("    approval: {four_eyes: true}\n", ""))
    assert cli("playbook", "run", playbook, *inputs(p, sim, sink), "--yes").code == 0
    # As if killed after the exchange deleted the keys and the mail server took the mails,
    # before either was recorded:
    conn = sqlite3.connect(home / "incident.db")
    with conn:
        conn.execute("UPDATE run_items SET status = 'started' WHERE step IN ('revoke', "
                     "'notify', 'disable')")
        conn.execute("DELETE FROM run_items WHERE step IN ('verify', 'tell_team')")
        conn.execute("DELETE FROM run_steps WHERE step IN ('verify', 'tell_team')")
        conn.execute("UPDATE run_steps SET status = 'running' WHERE step IN ('revoke', "
                     "'notify', 'disable')")
        conn.execute("UPDATE runs SET status = 'running', position = 'disable'")
    conn.close()
    before = stats(sim)["by_label"]["binance-platform-master"]["requests"]
    r = cli("playbook", "resume", 1, "--yes")
    assert r.code == 0, r.stderr
    assert r.stderr.count("done by an earlier attempt; not repeated") == 2 + 2 + 2
    assert revocations(sim, p) == {s["label"]: 1 for s in p.subs}
    assert sink.stats()["messages"] == 2
    assert len([x for x in sink.posts if x.path == "/admin/keys/disable"]) == 2
    # one read each (does the key still exist?), no delete
    assert stats(sim)["by_label"]["binance-platform-master"]["requests"] == before + 2
    with Store.open(Settings.from_env()) as store:
        starts = [e for e in audit.entries(store.conn) if e["action"] == "revoke"
                  and e["phase"] == "start"]
    assert len(starts) == 2


def test_killed_at_random_moments_it_acts_once(cli, sim, sink, tmp_path,  # type: ignore[no-untyped-def]
                                               home) -> None:
    """kill -9 at random moments; each resume goes on. Every key revoked once, every
    user told once (the simulator and the mail server count)."""
    p = platform(cli, sim, tmp_path, first=18, count=30)
    env = {**os.environ, "INCIDENT_HOME": str(home), **settings_env(sink, p.master)}
    playbook = tmp_path / "unattended.yaml"
    playbook.write_text((ROOT / "playbooks" / "platform-bulk-response.yaml").read_text()
                        .replace("    approval: {four_eyes: true}\n", ""))
    rng = random.Random(6)
    command = ["run", str(playbook), *inputs(p, sim, sink), "--yes"]
    kills = 0
    deadline = time.monotonic() + 120
    # Each delete takes 0.1 s at the exchange, so the run lasts long enough to be killed.
    requests.post(sim["url"] + "/_sim/faults", json={
        "method": "DELETE", "path": "/sapi/v1/sub-account/subAccountApi", "status": 0,
        "delay": 0.1, "count": 1000}, timeout=10).raise_for_status()
    try:
        while time.monotonic() < deadline:
            proc = subprocess.Popen([sys.executable, "-m", "incident", "playbook", *command],
                                    env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            command = ["resume", "1", "--yes"]
            try:
                code = proc.wait(timeout=rng.uniform(0.7, 1.6) if kills < 4 else 60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
            assert code == 0
            break
    finally:
        requests.delete(sim["url"] + "/_sim/faults", timeout=10)
    assert kills == 4
    assert revocations(sim, p) == {s["label"]: 1 for s in p.subs}
    st = sink.stats()
    assert st["messages"] == st["unique_message_ids"] == p.users
    assert set(st["by_recipient"].values()) == {1}
    with Store.open(Settings.from_env({"INCIDENT_HOME": str(home)})) as store:
        assert audit.verify(audit.entries(store.conn)).ok


def test_3commas_2022_for_one_user(cli, sim, sink, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    victim = next(a for a in sim["doc"]["accounts"] if a["exchange"] == "binance"
                  and a["role"] == "victim" and a["kind"] == "master")
    r = cli("keys", "add", "--exchange", "binance", "--label", victim["label"], "--stdin",
            input=f"{victim['api_key']}\n{victim['api_secret']}\n\n")
    assert r.code == 0, r.stderr
    dump = tmp_path / "leak"
    dump.mkdir()
    (dump / "part_001.csv").write_text(f"exchange,apiKey,secret\nbinance,{victim['api_key']},"
                                       f"{victim['api_secret']}\n")
    monkeypatch.setenv("INCIDENT_API_KEY", victim["api_key"])
    monkeypatch.setenv("INCIDENT_API_SECRET", victim["api_secret"])
    args = ("playbook", "run", "3commas-2022", "--input", f"dump={dump}", "--input",
            f"base_url={sim['url']}", "--input", "since=2022-12-19", "--input",
            "until=2022-12-21", "--yes")
    r = cli(*args)
    assert r.code == 1, r.stderr  # the person must delete the key at Binance
    assert f"guide[{victim['label']}]" not in r.stderr
    assert "waits for a person: 1 task" in r.stderr
    report = json.loads(cli("playbook", "status", 1, "--json").stdout)
    states = {s["id"]: s["status"] for s in report["steps"]}
    assert states == {"ingest": "done", "match": "done", "audit": "done", "snapshot": "done",
                      "revoke": "done", "guide": "waiting", "verify": "not started",
                      "claim": "not started", "exposure": "not started"}
    requests.post(sim["url"] + "/_sim/delete-key", json={"label": victim["label"]},
                  timeout=10).raise_for_status()
    r = cli("playbook", "approve", 1, "guide", "--note", "deleted in the API management page")
    assert r.code == 0 and "1 task of step 'guide' marked done" in r.stderr
    r = cli("playbook", "resume", 1, "--yes")
    assert r.code == 0, r.stderr
    assert f"verify[{victim['label']}]: revoked" in r.stderr
    # the claim: its bundle verifies, and its report holds the attack's orders, flagged
    reports = Path(os.environ["INCIDENT_HOME"]) / "reports" / "run-1"
    bundle = reports / f"evidence-{victim['label']}.zip"
    r = cli("evidence", "verify", bundle)
    assert r.code == 0 and "bundle intact" in r.stderr, r.stderr
    claim = json.loads((reports / f"claim-{victim['label']}.json").read_text())
    pump = sim["doc"]["scenario"]["pump"]["binance"]["symbol"]
    assert {t["symbol"] for t in claim["trades"]} == {pump}
    assert all({"burst", "above", "whole"} <= set(t["flags"]) for t in claim["trades"])
    assert float(claim["summary"]["headline_usd"]) > 0
    assert "deleted at the exchange by hand (deleted in the API management page)" in [
        e["event"] for e in claim["timeline"]]
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        [bundle.name, *(f"claim-{victim['label']}.{x}" for x in ("html", "md", "json", "pdf")),
         *(f"exposure.{x}" for x in ("html", "md", "json", "pdf"))])
