"""`incident sim-exchange` for real: a child process on 127.0.0.1 answered by the real,
unmodified ccxt (its URLs pointed at the simulator) and by hand-signed requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import ccxt
import pytest
import requests

from incident.cli.sim import _read_keys
from incident.exchanges.sim.world import World, build_world, parse_anchor
from scripts import loopback
from tests.conftest import ROOT

ANCHOR = "2022-12-20T08:00:00Z"
ANCHOR_MS = parse_anchor(ANCHOR)
KEYS_CSV = ROOT / "sample_dumps" / "registry" / "platform_users.csv"
BINANCE_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False,
                   "fetchCurrencies": False, "warnOnFetchOpenOrdersWithoutSymbol": False}
BYBIT_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot"}


@dataclass
class Sim:
    url: str
    log: Path
    accounts_file: Path
    accounts: dict[str, dict[str, Any]]
    world: World
    proc: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        return requests.get(self.url + "/_sim/stats", timeout=10).json()  # type: ignore[no-any-return]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "INCIDENT_HOME": str(tmp / "home")}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """The simulator with its defaults and the sample key file, for the whole module; the
    world it must serve is built here too, in-process, from the same arguments."""
    tmp = tmp_path_factory.mktemp("sim")
    accounts_file = tmp / "accounts.json"
    world = build_world(2022, ANCHOR, 12, 20, 10_000, _read_keys(KEYS_CSV))
    with loopback.sim_exchange(["--accounts-file", str(accounts_file), "--keys",
                                str(KEYS_CSV)], _env(tmp), tmp / "sim.log") as (url, proc):
        document = json.loads(accounts_file.read_text())
        yield Sim(url, tmp / "sim.log", accounts_file,
                  {a["label"]: a for a in document["accounts"]}, world, proc)
    assert proc.returncode == 0, "SIGTERM should end it with 0"


def _point(exchange: Any, url: str) -> Any:
    exchange.urls["api"] = {name: re.sub(r"^https?://[^/]+", url, address)
                            for name, address in exchange.urls["api"].items()}
    return exchange


def binance(sim: Sim, label: str, options: dict[str, Any] | None = None) -> Any:
    account = sim.accounts[label]
    return _point(ccxt.binance({"apiKey": account["api_key"], "secret": account["api_secret"],
                                "enableRateLimit": False, "timeout": 10_000,
                                "options": options or dict(BINANCE_OPTIONS)}), sim.url)


def bybit(sim: Sim, label: str) -> Any:
    account = sim.accounts[label]
    return _point(ccxt.bybit({"apiKey": account["api_key"], "secret": account["api_secret"],
                              "enableRateLimit": False, "timeout": 10_000,
                              "options": dict(BYBIT_OPTIONS)}), sim.url)


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _now() -> int:
    return int(time.time() * 1000)


def signed_binance(url: str, path: str, key: str, secret: str, params: dict[str, Any] | None
                   = None, method: str = "GET", timestamp: int | None = None,
                   signature: str | None = None) -> requests.Response:
    query = urlencode({**(params or {}), "timestamp": timestamp or _now()})
    sig = signature or _sign(secret, query)
    return requests.request(method, f"{url}{path}?{query}&signature={sig}",
                            headers={"X-MBX-APIKEY": key}, timeout=10)


def signed_bybit(url: str, path: str, key: str, secret: str, params: dict[str, Any] | None
                 = None, body: dict[str, Any] | None = None, timestamp: int | None = None,
                 signature: str | None = None) -> dict[str, Any]:
    stamp, window = str(timestamp or _now()), "5000"
    payload = json.dumps(body) if body is not None else urlencode(params or {})
    headers = {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": stamp, "X-BAPI-RECV-WINDOW": window,
               "X-BAPI-SIGN": signature or _sign(secret, stamp + key + window + payload),
               "Content-Type": "application/json"}
    if body is not None:
        answer = requests.post(url + path, data=payload, headers=headers, timeout=10)
    else:
        answer = requests.get(f"{url}{path}?{payload}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


# ccxt ------------------------------------------------------------------------------------


def test_the_accounts_file_is_private_and_holds_the_world(sim: Sim) -> None:
    assert stat.S_IMODE(sim.accounts_file.stat().st_mode) == 0o600
    document = json.loads(sim.accounts_file.read_text())
    assert document == sim.world.accounts_json(sim.url)
    samples = {row["label"]: row for row in _csv_rows(KEYS_CSV)
               if row["exchange"] in ("binance", "bybit")}
    assert samples
    for label, row in samples.items():
        account = sim.accounts[label]
        assert (account["api_key"], account["api_secret"], account["role"]) == (
            row["api_key"], row["api_secret"], "victim")
    assert not [p for p in sim.accounts_file.parent.iterdir() if p.name.startswith(".")]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_ccxt_binance_reads_a_victim(sim: Sim) -> None:
    world = sim.world
    exchange = binance(sim, "binance-victim-02")
    exchange.load_markets()
    assert len(exchange.markets) == len(world.markets["binance"])
    assert exchange.markets["SYS/BTC"]["precision"]["price"] == 1e-8
    assert abs(exchange.fetch_time() - _now()) < 5000
    victim = world.account("binance-victim-02")
    balance = exchange.fetch_balance()
    for asset, free, locked in victim.balances:
        assert balance[asset]["free"] == pytest.approx(free, abs=1e-8)
        assert balance[asset]["used"] == pytest.approx(locked, abs=1e-8)
    assert len(exchange.fetch_open_orders()) == sum(o.status == "NEW" for o in victim.orders)
    since = ANCHOR_MS - 3 * 86_400_000
    trades = exchange.fetch_my_trades("SYS/BTC", since, 1000)
    expected = [t for t in victim.trades if t.symbol == "SYSBTC"]
    assert [int(t["id"]) for t in trades] == [t.id for t in expected]
    assert all(t["side"] == "buy" and t["takerOrMaker"] == "taker" for t in trades)
    orders = exchange.fetch_orders("SYS/BTC", since)
    assert {o["id"] for o in orders} == {str(t.order_id) for t in expected}
    assert all(o["type"] == "market" and o["status"] == "closed" for o in orders)
    reference = world.scenario.reference["binance"]
    candles = exchange.fetch_ohlcv("SYS/BTC", "1m", ANCHOR_MS - 60 * 60_000, 1000)
    assert len(candles) == 1000 and candles[0][0] == ANCHOR_MS - 60 * 60_000
    assert max(c[2] for c in candles[60:80]) >= 3 * reference
    assert max(c[2] for c in candles[:60]) < 1.5 * reference
    deposits = exchange.fetch_deposits()
    assert sorted(d["id"] for d in deposits) == sorted(t.id for t in victim.deposits)
    assert exchange.fetch_withdrawals() == []
    attacker = binance(sim, "binance-counterparty")
    withdrawals = attacker.fetch_withdrawals()
    assert len(withdrawals) == 1 and withdrawals[0]["currency"] == "BTC"
    assert withdrawals[0]["timestamp"] > world.scenario.attack_end


def test_ccxt_binance_with_its_default_currencies_and_margins_calls(sim: Sim) -> None:
    exchange = binance(sim, "binance-victim-03", {"fetchMarkets": {"types": ["spot"]}})
    exchange.load_markets()  # capital/config/getall and the margin pair lists too
    assert "SYS" in exchange.currencies and "SYS/BTC" in exchange.markets


def test_ccxt_binance_pages_the_busy_account(sim: Sim) -> None:
    exchange = binance(sim, "binance-busy")
    exchange.load_markets()
    busy = sim.world.account("binance-busy")
    symbols = sorted({t.symbol for t in busy.trades})
    assert len(symbols) == 20
    market_id = symbols[0]
    symbol = exchange.markets_by_id[market_id][0]["symbol"]
    expected = [t.id for t in busy.trades if t.symbol == market_id]
    got: list[int] = []
    since = ANCHOR_MS - 3 * 86_400_000
    for _ in range(50):  # by time: since the last one seen, 100 at a time
        page = exchange.fetch_my_trades(symbol, since, 100, {"until": ANCHOR_MS})
        fresh = [int(t["id"]) for t in page if int(t["id"]) not in got]
        got += fresh
        if len(page) < 100:
            break
        since = page[-1]["timestamp"]
    assert got == expected
    got = []
    from_id = 0
    for _ in range(50):  # by id
        page = exchange.fetch_my_trades(symbol, None, 100, {"fromId": from_id})
        got += [int(t["id"]) for t in page]
        if len(page) < 100:
            break
        from_id = int(page[-1]["id"]) + 1
    assert got == expected


def test_ccxt_binance_market_buy_fills_at_the_last_price(sim: Sim) -> None:
    exchange = binance(sim, "binance-victim-05")
    exchange.load_markets()
    before = exchange.fetch_balance()["USDT"]["free"]
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["status"] == "closed" and order["filled"] == 0.01
    last = sim.world.last_price("binance", "BTCUSDT")
    assert order["average"] == pytest.approx(last)
    assert exchange.fetch_balance()["USDT"]["free"] == pytest.approx(before - 0.01 * last)
    assert exchange.fetch_my_trades("BTC/USDT", limit=1)[0]["order"] == order["id"]
    resting = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, round(last / 2))
    assert resting["status"] == "open"
    assert exchange.cancel_order(resting["id"], "BTC/USDT")["status"] == "canceled"


def test_ccxt_bybit_reads_a_victim(sim: Sim) -> None:
    world = sim.world
    exchange = bybit(sim, "bybit-victim-02")
    exchange.load_markets()
    assert len(exchange.markets) == len(world.markets["bybit"])
    victim = world.account("bybit-victim-02")
    balance = exchange.fetch_balance()
    for asset, free, locked in victim.balances:
        assert balance[asset]["total"] == pytest.approx(free + locked, abs=1e-8)
    assert len(exchange.fetch_open_orders("BTC/USDT")) == sum(
        o.status == "NEW" and o.symbol == "BTCUSDT" for o in victim.orders)
    since = ANCHOR_MS - 3 * 86_400_000
    expected = sorted(t.id for t in victim.trades if t.symbol == "AXSUSDT")
    got: list[int] = []
    cursor = ""
    for _ in range(20):  # Bybit's cursor, newest first, 20 at a time
        answer = exchange.privateGetV5ExecutionList({"category": "spot", "symbol": "AXSUSDT",
                                                     "startTime": since, "limit": 20,
                                                     "cursor": cursor})
        got += [int(t["execId"]) for t in answer["result"]["list"]]
        cursor = answer["result"]["nextPageCursor"]
        if not cursor:
            break
    assert sorted(got) == expected and got == sorted(got, reverse=True)
    trades = exchange.fetch_my_trades("AXS/USDT", since, 100)
    assert sorted(int(t["id"]) for t in trades) == expected
    assert all(t["side"] == "buy" and t["price"] >= 3 * world.scenario.reference["bybit"]
               for t in trades)
    assert len(exchange.fetch_my_trades(None, since, 100)) == len(
        [t for t in victim.trades if t.time >= since])
    candles = exchange.fetch_ohlcv("AXS/USDT", "1m", ANCHOR_MS - 60 * 60_000, 200)
    assert [c[0] for c in candles] == [ANCHOR_MS + (i - 60) * 60_000 for i in range(200)]
    assert max(c[2] for c in candles[60:80]) >= 3 * world.scenario.reference["bybit"]
    assert sorted(d["id"] for d in exchange.fetch_deposits()) == sorted(
        t.id for t in victim.deposits)
    assert exchange.fetch_withdrawals() == []
    withdrawals = bybit(sim, "bybit-counterparty").fetch_withdrawals()
    assert len(withdrawals) == 1 and withdrawals[0]["currency"] == "USDT"
    with pytest.raises(ccxt.BadRequest, match="10001"):  # more than 7 days apart, as Bybit
        exchange.privateGetV5ExecutionList({"category": "spot", "startTime": since,
                                            "endTime": since + 8 * 86_400_000})


# signatures ------------------------------------------------------------------------------


def test_binance_signatures(sim: Sim) -> None:
    account = sim.accounts["binance-victim-04"]
    key, secret = account["api_key"], account["api_secret"]
    path = "/api/v3/account"
    ok = signed_binance(sim.url, path, key, secret)
    assert ok.status_code == 200 and ok.json()["canTrade"] is True
    bad = signed_binance(sim.url, path, key, secret, signature="0" * 64)
    assert (bad.status_code, bad.json()["code"]) == (400, -1022)
    unknown = signed_binance(sim.url, path, "SIM" + "Q" * 61, secret)
    assert (unknown.status_code, unknown.json()["code"]) == (401, -2015)
    malformed = signed_binance(sim.url, path, "not a key!", secret)
    assert (malformed.status_code, malformed.json()["code"]) == (401, -2014)
    stale = signed_binance(sim.url, path, key, secret, timestamp=_now() - 60_000)
    assert (stale.status_code, stale.json()["code"]) == (400, -1021)
    ahead = signed_binance(sim.url, path, key, secret, timestamp=_now() + 30_000)
    assert (ahead.status_code, ahead.json()["code"]) == (400, -1021)
    wide = signed_binance(sim.url, path, key, secret, {"recvWindow": 59_000},
                          timestamp=_now() - 30_000)
    assert wide.status_code == 200
    missing = requests.get(f"{sim.url}{path}", headers={"X-MBX-APIKEY": key}, timeout=10)
    assert (missing.status_code, missing.json()["code"]) == (400, -1102)
    for answer in (bad, unknown, stale):
        assert key not in answer.text and secret not in answer.text
    blocked = sim.accounts["binance-bystander-02"]  # its key is bound to another address
    refused = signed_binance(sim.url, path, blocked["api_key"], blocked["api_secret"])
    assert (refused.status_code, refused.json()["code"]) == (401, -2015)
    reader = signed_binance(sim.url, "/api/v3/order", blocked["api_key"],
                            blocked["api_secret"], {"symbol": "BTCUSDT"})
    assert reader.json()["code"] == -2015


def test_bybit_signatures(sim: Sim) -> None:
    account = sim.accounts["bybit-victim-04"]
    key, secret = account["api_key"], account["api_secret"]
    path, params = "/v5/account/wallet-balance", {"accountType": "UNIFIED"}
    assert signed_bybit(sim.url, path, key, secret, params)["retCode"] == 0
    assert signed_bybit(sim.url, path, key, secret, params, signature="0" * 64)[
        "retCode"] == 10004
    assert signed_bybit(sim.url, path, "SIMunknownkey12345", secret, params)["retCode"] == 10003
    assert signed_bybit(sim.url, path, key, secret, params, timestamp=_now() - 60_000)[
        "retCode"] == 10002
    wrong_secret = signed_bybit(sim.url, path, key, "x" * 36, params)
    assert wrong_secret["retCode"] == 10004 and key not in json.dumps(wrong_secret)


# key management --------------------------------------------------------------------------


def test_binance_master_deletes_a_sub_account_key_once(sim: Sim) -> None:
    master = sim.accounts["binance-platform-master"]
    sub = sim.accounts["binance-sub-010"]
    params = {"email": sub["sub_account"], "subAccountApiKey": sub["api_key"]}
    assert signed_binance(sim.url, "/api/v3/account", sub["api_key"],
                          sub["api_secret"]).status_code == 200
    listed = signed_binance(sim.url, "/sapi/v1/sub-account/list", master["api_key"],
                            master["api_secret"]).json()["subAccounts"]
    assert len(listed) == 20 and sub["sub_account"] in {s["email"] for s in listed}
    other = sim.accounts["binance-victim-06"]  # not a master of anyone
    refused = signed_binance(sim.url, "/sapi/v1/sub-account/subAccountApi", other["api_key"],
                             other["api_secret"], params, "DELETE")
    assert (refused.status_code, refused.json()["code"]) == (400, -12022)
    done = signed_binance(sim.url, "/sapi/v1/sub-account/subAccountApi", master["api_key"],
                          master["api_secret"], params, "DELETE")
    assert (done.status_code, done.json()) == (200, {})
    dead = signed_binance(sim.url, "/api/v3/account", sub["api_key"], sub["api_secret"])
    assert (dead.status_code, dead.json()["code"]) == (401, -2015)
    again = signed_binance(sim.url, "/sapi/v1/sub-account/subAccountApi", master["api_key"],
                           master["api_secret"], params, "DELETE")
    assert (again.status_code, again.json()["code"]) == (400, -2008)
    assert sim.stats()["revocations"]["binance-sub-010"] == 1


def test_binance_ip_restriction_of_a_sub_account_key(sim: Sim) -> None:
    master = sim.accounts["binance-platform-master"]
    sub = sim.accounts["binance-sub-011"]
    base = {"email": sub["sub_account"], "subAccountApiKey": sub["api_key"]}
    path = "/sapi/v2/sub-account/subAccountApi/ipRestriction"
    answer = signed_binance(sim.url, path, master["api_key"], master["api_secret"],
                            {**base, "status": "2", "ipAddress": "10.9.9.9"}, "POST").json()
    assert answer["status"] == "2" and answer["ipList"] == ["10.9.9.9"]
    assert answer["apiKey"] == sub["api_key"] and answer["updateTime"] > 0
    refused = signed_binance(sim.url, "/api/v3/account", sub["api_key"], sub["api_secret"])
    assert (refused.status_code, refused.json()["code"]) == (401, -2015)
    shown = signed_binance(sim.url, "/sapi/v1/sub-account/subAccountApi/ipRestriction",
                           master["api_key"], master["api_secret"], base).json()
    assert shown["ipRestrict"] == "true" and shown["ipList"] == ["10.9.9.9"]
    assert sim.stats()["restrictions"]["binance-sub-011"] == 1
    signed_binance(sim.url, path, master["api_key"], master["api_secret"],
                   {**base, "status": "1"}, "POST")
    assert signed_binance(sim.url, "/api/v3/account", sub["api_key"],
                          sub["api_secret"]).status_code == 200
    permissions = signed_binance(sim.url, "/sapi/v1/account/apiRestrictions", sub["api_key"],
                                 sub["api_secret"]).json()
    assert permissions["enableSpotAndMarginTrading"] is True
    assert permissions["enableWithdrawals"] is False and permissions["ipRestrict"] is False


def test_bybit_key_management(sim: Sim) -> None:
    url = sim.url
    victim = sim.accounts["bybit-victim-05"]
    key_info = signed_bybit(url, "/v5/user/query-api", victim["api_key"],
                            victim["api_secret"])["result"]
    assert key_info["readOnly"] == 0 and key_info["ips"] == ["*"]
    assert key_info["permissions"]["Spot"] == ["SpotTrade"] and key_info["isMaster"] is True
    refused = signed_bybit(url, "/v5/user/delete-api", victim["api_key"], victim["api_secret"],
                           body={})
    assert refused["retCode"] == 10005  # no transfer or withdrawal permission: not itself
    assert signed_bybit(url, "/v5/user/query-api", victim["api_key"],
                        victim["api_secret"])["retCode"] == 0
    attacker = sim.accounts["bybit-counterparty"]
    assert signed_bybit(url, "/v5/user/delete-api", attacker["api_key"],
                        attacker["api_secret"], body={})["retCode"] == 0
    assert signed_bybit(url, "/v5/user/query-api", attacker["api_key"],
                        attacker["api_secret"])["retCode"] == 10003
    master = sim.accounts["bybit-platform-master"]
    sub = sim.accounts["bybit-sub-001"]
    assert signed_bybit(url, "/v5/user/delete-api", sub["api_key"], sub["api_secret"],
                        body={})["retCode"] == 10005  # a sub-account's key
    assert signed_bybit(url, "/v5/user/delete-sub-api", master["api_key"],
                        master["api_secret"], body={"apikey": sub["api_key"]})["retCode"] == 0
    assert signed_bybit(url, "/v5/user/query-api", sub["api_key"],
                        sub["api_secret"])["retCode"] == 10003
    assert signed_bybit(url, "/v5/user/delete-sub-api", master["api_key"],
                        master["api_secret"], body={"apikey": sub["api_key"]})[
        "retCode"] == 10001  # already gone
    other = sim.accounts["bybit-sub-003"]
    updated = signed_bybit(url, "/v5/user/update-sub-api", master["api_key"],
                           master["api_secret"], body={"apikey": other["api_key"],
                                                       "ips": "10.9.9.9"})
    assert updated["result"]["ips"] == ["10.9.9.9"]
    assert signed_bybit(url, "/v5/user/query-api", other["api_key"],
                        other["api_secret"])["retCode"] == 10010
    stats = sim.stats()
    assert stats["revocations"]["bybit-counterparty"] == 1
    assert stats["revocations"]["bybit-sub-001"] == 1
    assert "bybit-victim-05" not in stats["revocations"]
    assert stats["restrictions"]["bybit-sub-003"] == 1


def test_bybit_update_api_read_only_stops_trading(sim: Sim) -> None:
    exchange = bybit(sim, "bybit-victim-03")
    exchange.load_markets()
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.001, 17_000)
    assert order["id"]
    answer = exchange.privatePostV5UserUpdateApi({"readOnly": 1})
    assert answer["result"]["readOnly"] == 1
    with pytest.raises(ccxt.PermissionDenied):
        exchange.create_order("BTC/USDT", "market", "buy", 0.001, 17_000)
    assert exchange.fetch_balance()["USDT"]["total"] > 0  # reading still works
    assert sim.stats()["restrictions"]["bybit-victim-03"] == 1


# the service -----------------------------------------------------------------------------


def test_rate_limits_headers_and_429(tmp_path: Path) -> None:
    with loopback.sim_exchange(["--rate-limit", "30", "--rate-window", "10", "--victims", "2",
                                "--subaccounts", "0", "--busy-trades", "0",
                                "--no-access-log", "--accounts-file",
                                str(tmp_path / "a.json")], _env(tmp_path),
                               tmp_path / "sim.log") as (url, proc):
        accounts = {a["label"]: a for a in json.loads((tmp_path / "a.json").read_text())[
            "accounts"]}
        info = requests.get(url + "/api/v3/exchangeInfo", timeout=10).json()
        assert info["rateLimits"][0] == {"rateLimitType": "REQUEST_WEIGHT",
                                         "interval": "SECOND", "intervalNum": 10, "limit": 30}
        # Each attempt has buckets of its own (a key header's value names the bucket, for
        # public endpoints too); again if a window boundary fell in the middle.
        for attempt in range(3):
            bucket = {"X-MBX-APIKEY": f"bucket{attempt}"}
            window = int(time.time() // 10)
            first = requests.get(url + "/api/v3/exchangeInfo", headers=bucket, timeout=10)
            second = requests.get(url + "/api/v3/exchangeInfo", headers=bucket, timeout=10)
            third = requests.get(url + "/api/v3/time", headers=bucket, timeout=10)
            if int(time.time() // 10) == window:
                break
        assert first.status_code == 200
        assert first.headers["X-MBX-USED-WEIGHT-10S"] == "20"
        assert second.status_code == 429 and second.json()["code"] == -1003
        assert "bucket" not in second.text
        assert 1 <= int(second.headers["Retry-After"]) <= 10
        assert second.headers["X-MBX-USED-WEIGHT-10S"] == "20"  # refused: not charged
        assert (third.status_code, third.headers["X-MBX-USED-WEIGHT-10S"]) == (200, "21")
        for label in ("bybit-victim-01", "bybit-bystander-01", "bybit-platform-master"):
            victim = accounts[label]
            window = int(time.time() // 10)
            answers = [_bybit_raw(url, victim) for _ in range(31)]
            if int(time.time() // 10) == window:
                break
        assert [a.status_code for a in answers] == [200] * 30 + [429]
        assert answers[0].headers["X-Bapi-Limit"] == "30"
        assert answers[0].headers["X-Bapi-Limit-Status"] == "29"
        assert answers[29].headers["X-Bapi-Limit-Status"] == "0"
        reset = int(answers[0].headers["X-Bapi-Limit-Reset-Timestamp"])
        assert reset == (window + 1) * 10_000
        assert answers[30].json()["retCode"] == 10006
        assert 1 <= int(answers[30].headers["Retry-After"]) <= 10
        assert victim["api_key"] not in answers[30].text
        stats = requests.get(url + "/_sim/stats", timeout=10).json()
        assert stats["rate_limited"] >= 2 and stats["by_status"]["429"] >= 2
        assert stats["by_label"][victim["label"]]["rejected"] >= 1
        log = (tmp_path / "sim.log").read_text()
    assert proc.returncode == 0
    assert "/v5/" not in log and "/api/" not in log  # --no-access-log


def _bybit_raw(url: str, account: dict[str, Any]) -> requests.Response:
    stamp, window = str(_now()), "5000"
    key, secret = account["api_key"], account["api_secret"]
    return requests.get(url + "/v5/user/query-api", timeout=10, headers={
        "X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": stamp, "X-BAPI-RECV-WINDOW": window,
        "X-BAPI-SIGN": _sign(secret, stamp + key + window)})


def test_a_port_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "incident", "sim-exchange", "--port",
                                 str(port)], capture_output=True, text=True, timeout=60,
                                env=_env(tmp_path), cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_bad_key_file_names_the_place_not_the_value(tmp_path: Path) -> None:
    bad = tmp_path / "keys.csv"
    bad.write_text("exchange,label,api_key,api_secret\nbinance,x,SECRETVALUE123,\n")
    result = subprocess.run([sys.executable, "-m", "incident", "sim-exchange", "--keys",
                             str(bad)], capture_output=True, text=True, timeout=60,
                            env=_env(tmp_path), cwd=ROOT)
    assert result.returncode == 3
    assert f"{bad}:2: column 'api_secret'" in result.stderr
    assert "SECRETVALUE123" not in result.stderr


def test_stats_count_per_label_and_reset(sim: Sim) -> None:
    requests.post(sim.url + "/_sim/reset-stats", timeout=10)
    account = sim.accounts["binance-bystander-01"]
    for signature in (None, None, "0" * 64):
        signed_binance(sim.url, "/api/v3/openOrders", account["api_key"],
                       account["api_secret"], {"symbol": "BTCUSDT"}, signature=signature)
    signed_binance(sim.url, "/api/v3/openOrders", account["api_key"], account["api_secret"])
    stats = sim.stats()
    assert stats["by_label"] == {"binance-bystander-01": {"requests": 4, "weight": 98,
                                                          "rejected": 1}}
    assert stats["requests"] == 4 and stats["by_status"] == {"200": 3, "400": 1}
    assert stats["errors"] == {"binance:-1022": 1}
    text = json.dumps(stats)
    assert not any(a["api_key"] in text for a in sim.accounts.values())
    zero = requests.post(sim.url + "/_sim/reset-stats", timeout=10).json()
    assert (zero["requests"], zero["by_label"], zero["revocations"]) == (0, {}, {})


def test_the_access_log_has_paths_and_labels_never_queries_or_keys(sim: Sim) -> None:
    signed_binance(sim.url, "/api/v3/account", sim.accounts["binance-victim-01"]["api_key"],
                   sim.accounts["binance-victim-01"]["api_secret"])
    deadline = time.monotonic() + 5
    while "GET /api/v3/account 200" not in sim.log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    log = sim.log.read_text()
    assert re.search(r"GET /api/v3/account 200 [0-9.]+ms binance-victim-01", log)
    assert "GET /v5/execution/list 200" in log
    assert "?" not in log and "signature" not in log and "timestamp=" not in log
    for account in sim.accounts.values():
        for value in (account["api_key"], account["api_secret"]):
            assert value[:12] not in log and value[-12:] not in log, account["label"]
