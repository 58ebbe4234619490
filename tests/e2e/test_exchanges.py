"""The exchange commands against the simulated exchange, which ccxt and our signed calls
reach over loopback exactly as they would reach Binance or Bybit."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from incident import audit
from incident.settings import Settings
from incident.store import Store
from scripts import loopback
from tests.conftest import Result

ANCHOR = "2022-12-20T08:00:00Z"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One simulator for the module: its URL and its accounts file."""
    tmp = tmp_path_factory.mktemp("sim")
    accounts = tmp / "accounts.json"
    with loopback.sim_exchange(["--accounts-file", str(accounts), "--subaccounts", "6",
                                "--victims", "4", "--busy-trades", "300",
                                "--no-access-log"], os.environ, tmp / "sim.log") as (url, _):
        doc = json.loads(accounts.read_text())
        yield {"url": url, "accounts": doc["accounts"], "doc": doc, "dir": tmp}


def account(sim: dict[str, Any], **match: str) -> dict[str, Any]:
    return next(a for a in sim["accounts"] if all(a.get(k) == v for k, v in match.items()))


def stats(sim: dict[str, Any]) -> dict[str, Any]:
    return requests.get(sim["url"] + "/_sim/stats", timeout=10).json()  # type: ignore[no-any-return]


@pytest.fixture
def registered(cli, sim: dict[str, Any], tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Every simulated account registered by fingerprint (a keys import of a plaintext CSV,
    which is also the credentials file the commands read at run time)."""
    path = tmp_path / "credentials.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["exchange", "label", "api_key", "api_secret"])
        for a in sim["accounts"]:
            w.writerow([a["exchange"], a["label"], a["api_key"], a["api_secret"]])
    r = cli("keys", "import", path)
    assert r.code == 0, r.stderr
    return path


def run(cli, creds: Path, sim: dict[str, Any], *args: str) -> Result:  # type: ignore[no-untyped-def]
    return cli(*args, "--base-url", sim["url"], "--credentials", creds, "--no-keyring")


def test_audit_key_reads_the_permissions(cli, sim, registered) -> None:  # type: ignore[no-untyped-def]
    for exchange in ("binance", "bybit"):
        victim = account(sim, exchange=exchange, role="victim", kind="master")
        r = run(cli, registered, sim, "audit-key", victim["label"], "--json")
        assert r.code == 0, r.stderr
        out = json.loads(r.stdout)
        assert (out["can_trade"], out["can_withdraw"], out["ip_restricted"]) == (
            True, False, False)
        assert "can trade from any IP address" in out["risk"]
        assert out["created_at"] and out["responses"][0]["sha256"]


def test_snapshot_keeps_every_raw_response_with_its_hash(cli, sim, registered,  # type: ignore[no-untyped-def]
                                                         home: Path) -> None:
    victim = account(sim, exchange="binance", role="victim", kind="master")
    r = run(cli, registered, sim, "snapshot", victim["label"], "--since",
            "2022-12-17T00:00:00Z", "--until", "2022-12-21T00:00:00Z", "--json")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    folder = Path(out["path"])
    assert folder.parent.parent == home / "snapshots"
    doc = json.loads((folder / "snapshot.json").read_text())
    pump = sim["doc"]["scenario"]
    assert out["counts"]["trades"] > 10 and out["counts"]["candles"] > 60
    for response in doc["responses"]:
        body = (folder / response["file"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == response["sha256"]
        assert "signature" not in response["endpoint"] and "timestamp" not in response["endpoint"]
    symbols = {t["symbol"] for t in doc["data"]["trades"]}
    assert symbols <= set(doc["data"]["candles"])
    attack = [t for t in doc["data"]["trades"] if t["symbol"] == pump["pump"]["binance"]["symbol"]
              and t["side"] == "buy" and t["timestamp"] >= pump["attack_start_ms"]]
    assert attack and doc["data"]["balances"]  # the pump buys are in the evidence
    with Store.open(Settings(home)) as store:
        rows = store.conn.execute("SELECT label, sha256 FROM snapshots").fetchall()
        assert rows == [(victim["label"], hashlib.sha256(
            (folder / "snapshot.json").read_bytes()).hexdigest())]
        assert [e["action"] for e in audit.entries(store.conn)] == ["snapshot"]


def test_sub_account_key_revoked_once_through_the_master(cli, sim, registered, home: Path  # type: ignore[no-untyped-def]
                                                         ) -> None:
    sub = account(sim, exchange="binance", kind="sub", role="victim")
    master = sub["master_label"]
    before = stats(sim)["revocations"].get(sub["label"], 0)
    assert before == 0
    args = ("--master", master, "--sub-account", sub["sub_account"])
    dry = run(cli, registered, sim, "revoke", sub["label"], *args, "--dry-run", "--json")
    assert dry.code == 0 and json.loads(dry.stdout)["outcome"] == "dry-run"
    assert stats(sim)["revocations"].get(sub["label"], 0) == 0
    refused = run(cli, registered, sim, "revoke", sub["label"], *args)  # no terminal, no --yes
    assert refused.code == 2 and "pass --yes" in refused.stderr
    live = run(cli, registered, sim, "verify-revoked", sub["label"])
    assert live.code == 1 and "STILL LIVE" in live.stderr
    done = run(cli, registered, sim, "revoke", sub["label"], *args, "--yes", "--json")
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "done"
    dead = run(cli, registered, sim, "verify-revoked", sub["label"], "--json")
    assert dead.code == 0 and json.loads(dead.stdout)["code"] == "-2015"
    again = run(cli, registered, sim, "revoke", sub["label"], *args, "--yes")
    assert again.code == 0 and "already" in again.stderr
    assert stats(sim)["revocations"][sub["label"]] == 1
    with Store.open(Settings(home)) as store:
        log = [(e["action"], e["phase"], e["outcome"]) for e in audit.entries(store.conn)]
    assert log == [("revoke", "read", "dry-run"), ("verify-revoked", "read", "live"),
                   ("revoke", "start", None), ("revoke", "end", "done"),
                   ("verify-revoked", "read", "revoked"), ("revoke", "start", None),
                   ("revoke", "end", "already")]


def test_main_binance_key_gets_the_manual_steps(cli, sim, registered) -> None:  # type: ignore[no-untyped-def]
    victim = account(sim, exchange="binance", role="victim", kind="master")
    r = run(cli, registered, sim, "revoke", victim["label"], "--yes")
    assert r.code == 1
    assert "1. Log in to Binance and open Account > API Management." in r.stderr
    assert "incident verify-revoked " + victim["label"] in r.stderr


def test_bybit_key_restricted_read_only_then_audited(cli, sim, registered) -> None:  # type: ignore[no-untyped-def]
    victim = [a for a in sim["accounts"] if a["exchange"] == "bybit"
              and a["role"] == "victim" and a["kind"] == "master"][-1]
    r = run(cli, registered, sim, "restrict", victim["label"], "--yes", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["method"] == "api:self"
    audited = json.loads(run(cli, registered, sim, "audit-key", victim["label"],
                             "--json").stdout)
    assert audited["can_trade"] is False


def test_a_wrong_credential_is_refused_before_any_call(cli, sim, registered,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    victim = account(sim, exchange="binance", role="victim", kind="master")
    other = account(sim, exchange="binance", role="counterparty")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("label,api_key,api_secret\n"
                     f"{victim['label']},{other['api_key']},{other['api_secret']}\n")
    before = stats(sim)["requests"]
    r = cli("audit-key", victim["label"], "--base-url", sim["url"], "--credentials", wrong,
            "--no-keyring")
    assert r.code == 3
    assert r.stderr.strip() == (f"error: the API key from wrong.csv:2 is not the key "
                                f"registered as '{victim['label']}'; nothing was sent")
    assert stats(sim)["requests"] == before
    assert other["api_key"] not in r.stderr + r.stdout


def test_an_unreachable_exchange_exits_4_and_records_nothing_half(cli, registered,  # type: ignore[no-untyped-def]
                                                                  sim, home: Path) -> None:
    victim = account(sim, exchange="binance", role="victim", kind="master")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = cli("snapshot", victim["label"], "--base-url", dead, "--credentials", registered,
            "--no-keyring", "--timeout", "1")
    assert r.code == 4, r.stderr
    assert r.stderr.startswith("error: binance")
    assert not (home / "snapshots").exists() or not any((home / "snapshots").rglob("*.json"))
    with Store.open(Settings(home)) as store:
        assert store.conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
        assert [e["outcome"] for e in audit.entries(store.conn)] == ["failed"]


def fault(sim: dict[str, Any], path: str, *, status: int = 0, delay: float = 0,
          count: int = 1, method: str = "GET") -> None:
    requests.post(sim["url"] + "/_sim/faults", json={"method": method, "path": path,
                  "status": status, "delay": delay, "count": count}, timeout=10)


@pytest.fixture
def no_faults(sim: dict[str, Any]) -> Iterator[None]:
    yield
    requests.delete(sim["url"] + "/_sim/faults", timeout=10)


def test_5xx_and_timeouts_are_retried(cli, sim, registered, no_faults) -> None:  # type: ignore[no-untyped-def]
    victim = account(sim, exchange="binance", role="victim", kind="master")
    fault(sim, "/sapi/v1/account/apiRestrictions", status=503, count=2)
    r = run(cli, registered, sim, "audit-key", victim["label"], "--json")
    assert r.code == 0, r.stderr
    fault(sim, "/sapi/v1/account/apiRestrictions", delay=2.5)
    r = run(cli, registered, sim, "audit-key", victim["label"], "--timeout", "1")
    assert r.code == 0, r.stderr
    fault(sim, "/api/v3/account", status=502, count=2)  # ccxt's calls: the same rules
    r = run(cli, registered, sim, "snapshot", victim["label"], "--since", "2022-12-19",
            "--until", "2022-12-21")
    assert r.code == 0, r.stderr


def test_5xx_every_time_exits_4_and_the_log_says_so(cli, sim, registered, home: Path,  # type: ignore[no-untyped-def]
                                                    no_faults) -> None:
    victim = account(sim, exchange="binance", role="victim", kind="master")
    fault(sim, "/sapi/v1/account/apiRestrictions", status=503, count=4)
    r = run(cli, registered, sim, "audit-key", victim["label"])
    assert r.code == 4
    assert r.stderr.strip() == ("error: binance GET /sapi/v1/account/apiRestrictions: "
                                "HTTP 503 after 4 attempts")
    fault(sim, "/api/v3/account", status=500, count=4)
    r = run(cli, registered, sim, "snapshot", victim["label"])
    assert r.code == 4 and "after 4 attempts" in r.stderr
    with Store.open(Settings(home)) as store:
        assert [(e["action"], e["outcome"], e["detail"].get("code"))
                for e in audit.entries(store.conn)] == [
            ("audit-key", "failed", "503"), ("snapshot", "failed", None)]
        assert store.conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
    assert not list((home / "snapshots").rglob("snapshot.json")) \
        if (home / "snapshots").exists() else True


def test_auth_errors_are_not_retried(cli, sim, registered) -> None:  # type: ignore[no-untyped-def]
    bystander = [a for a in sim["accounts"] if a["role"] == "bystander"
                 and a["exchange"] == "binance"][1]  # bound to 203.0.113.10: -2015 here
    before = stats(sim)["errors"].get("binance:-2015", 0)
    r = run(cli, registered, sim, "audit-key", bystander["label"])
    assert r.code == 4 and "-2015" in r.stderr
    assert stats(sim)["errors"]["binance:-2015"] == before + 1


def test_429_waits_for_retry_after(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    accounts = tmp_path / "accounts.json"
    with loopback.sim_exchange(["--accounts-file", str(accounts), "--rate-limit", "100",
                                "--rate-window", "1", "--victims", "2", "--subaccounts", "1",
                                "--busy-trades", "0", "--no-access-log"], os.environ,
                               tmp_path / "sim.log") as (url, _):
        sim = {"url": url, "accounts": json.loads(accounts.read_text())["accounts"]}
        creds = tmp_path / "c.csv"
        victim = account(sim, exchange="binance", role="victim", kind="master")
        creds.write_text("exchange,label,api_key,api_secret\n" + ",".join(
            [victim["exchange"], victim["label"], victim["api_key"], victim["api_secret"]])
            + "\n")
        assert cli("keys", "import", creds).code == 0
        r = run(cli, creds, sim, "snapshot", victim["label"], "--since", "2022-12-17",
                "--until", "2022-12-21", "--json")
        assert r.code == 0, r.stderr
        assert stats(sim)["rate_limited"] > 0  # ccxt ran into the limit and waited it out
        assert json.loads(r.stdout)["counts"]["trades"] > 0


def test_bybit_snapshot_through_ccxt(cli, sim, registered) -> None:  # type: ignore[no-untyped-def]
    victim = account(sim, exchange="bybit", role="victim", kind="master")
    r = run(cli, registered, sim, "snapshot", victim["label"], "--since", "2022-12-01",
            "--until", "2022-12-21", "--json")  # past Bybit's 7-day span per call
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    doc = json.loads((Path(out["path"]) / "snapshot.json").read_text())
    pump = sim["doc"]["scenario"]["pump"]["bybit"]["symbol"]
    buys = [t for t in doc["data"]["trades"] if t["symbol"] == pump and t["side"] == "buy"]
    start = sim["doc"]["scenario"]["attack_start_ms"]
    assert buys and all(t["timestamp"] >= start for t in buys)
    assert pump in doc["data"]["candles"] and out["counts"]["orders"] > 0
    assert len({t["id"] for t in doc["data"]["trades"]}) == out["counts"]["trades"]


def test_an_ip_bound_sub_key_is_still_deleted_not_taken_for_dead(cli, sim, registered  # type: ignore[no-untyped-def]
                                                                 ) -> None:
    """Binance answers -2015 both for a deleted key and for one used from outside its
    whitelist: only the master's answer (-2008) may say "already"."""
    sub = [a for a in sim["accounts"] if a["exchange"] == "binance" and a["kind"] == "sub"][-1]
    via = ("--master", sub["master_label"], "--sub-account", sub["sub_account"])
    r = run(cli, registered, sim, "restrict", sub["label"], *via, "--ip", "203.0.113.7",
            "--yes", "--json")
    assert r.code == 0, r.stderr
    assert stats(sim)["restrictions"][sub["label"]] == 1
    assert run(cli, registered, sim, "revoke", sub["label"], *via, "--dry-run",
               "--json").code == 0
    done = run(cli, registered, sim, "revoke", sub["label"], *via, "--yes", "--json")
    assert json.loads(done.stdout)["outcome"] == "done", done.stderr
    assert stats(sim)["revocations"][sub["label"]] == 1
    dry = run(cli, registered, sim, "revoke", sub["label"], *via, "--dry-run", "--json")
    assert json.loads(dry.stdout)["outcome"] == "already"
    missing = run(cli, registered, sim, "revoke", sub["label"], "--master",
                  sub["master_label"], "--yes")
    assert missing.code == 2 and "--sub-account EMAIL" in missing.stderr


def test_bybit_sub_key_revoked_through_the_master_once(cli, sim, registered) -> None:  # type: ignore[no-untyped-def]
    sub = next(a for a in sim["accounts"] if a["exchange"] == "bybit" and a["kind"] == "sub")
    via = ("--master", sub["master_label"])
    first = run(cli, registered, sim, "revoke", sub["label"], *via, "--yes", "--json")
    assert json.loads(first.stdout)["outcome"] == "done", first.stderr
    second = run(cli, registered, sim, "revoke", sub["label"], *via, "--yes", "--json")
    assert json.loads(second.stdout)["outcome"] == "already"
    assert stats(sim)["revocations"][sub["label"]] == 1
    assert run(cli, registered, sim, "verify-revoked", sub["label"]).code == 0


def test_deposits_are_read_across_the_whole_window(cli, sim, registered) -> None:  # type: ignore[no-untyped-def]
    victim = account(sim, exchange="binance", role="victim", kind="master")
    counts = []
    for since in ("2022-12-01", "2022-06-01"):  # past Binance's 90 days per call
        r = run(cli, registered, sim, "snapshot", victim["label"], "--since", since,
                "--until", "2022-12-21", "--json")
        assert r.code == 0, r.stderr
        counts.append(json.loads(r.stdout)["counts"]["deposits"])
    assert counts[1] >= counts[0] > 0
