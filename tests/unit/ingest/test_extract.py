"""Pairing keys with secrets inside one record: payload -> what is found (exchange,
whether a secret and a passphrase came with it). Values are random and fake; assertions
compare by equality, never print them."""

from __future__ import annotations

import random
import string

import pytest

from incident.ingest.extract import TablePlan, extract, from_fields, from_text
from incident.ingest.interface import Record

R = random.Random(7)
AN = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def pick(alphabet: str, n: int) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


BK, BS = pick(AN, 64), pick(AN, 64)  # binance
YK, YS = pick(AN, 18), pick(AN, 36)  # bybit
KK = pick(HEX, 24)  # kucoin key
KS = "-".join(pick(HEX, n) for n in (8, 4, 4, 4, 12))  # kucoin secret (a UUID)


def summary(found: list) -> list[tuple[str, bool, object, bool]]:  # type: ignore[type-arg]
    return [(f.exchange, f.secret is not None, f.has_passphrase, f.swapped) for f in found]


@pytest.mark.parametrize("fields, expected", [
    ([("API Key", BK), ("Secret Key", BS), ("exchange_name", "Binance")],
     [("binance", True, None, False)]),
    ([("apiKey", YK), ("apiSecret", YS)], [("bybit", True, None, False)]),
    ([("access_key", YS), ("private_key", YK)], [("bybit", True, None, True)]),  # swapped
    ([("key", KK), ("secret", KS), ("passphrase", "hunter2x")],
     [("kucoin", True, True, False)]),
    ([("key", KK), ("secret", KS), ("password", "")], [("kucoin", True, False, False)]),
    ([("market", "kukoin"), ("key", KK), ("secret", KS)], [("kucoin", True, None, False)]),
    ([("BINANCE_API_KEY", BK), ("BINANCE_API_SECRET", BS), ("BYBIT_API_KEY", YK),
      ("BYBIT_API_SECRET", YS)], [("binance", True, None, False), ("bybit", True, None, False)]),
    ([("column 1", "7"), ("column 2", YK), ("column 3", YS)], [("bybit", True, None, False)]),
    ([("key", "your_api_key_here"), ("secret", "xxxxxxxxxxxxxxxxxxxx")], []),
    ([("key", BK), ("secret", "changeme")], [("binance", False, None, False)]),
    ([("key", "x" * 64), ("secret", BS)], []),
    ([("note", "hello"), ("id", "12")], []),
])
def test_fields(fields: list[tuple[str, str]], expected: list[tuple[str, bool, object, bool]]
                ) -> None:
    assert summary(from_fields(fields)) == expected


def test_fields_keep_the_values_right_way_round() -> None:
    (f,) = from_fields([("api_key", YS), ("api_secret", YK)])
    assert (f.key == YK, f.secret == YS, f.swapped) == (True, True, True)


def test_an_unknown_shape_is_kept_as_unknown() -> None:
    key, secret = pick(AN + "_", 40), pick(AN + "_", 50)
    (f,) = from_fields([("key", key), ("secret", secret)])
    assert f.exchange == "unknown" and f.key == key and f.secret == secret


def test_default_exchange_comes_before_shapes_and_after_the_record() -> None:
    assert from_fields([("key", BK), ("secret", BS)], default="okx")[0].exchange == "okx"
    assert from_fields([("key", BK), ("secret", BS)], "gate", "okx")[0].exchange == "gate"


@pytest.mark.parametrize("text, expected", [
    (f"Binance API: {BK}\nSecret: {BS}\n", [(0, "binance", True)]),
    (f"exchange = ccxt.bybit({{'apiKey': '{YK}', 'secret': '{YS}'}})",
     [(0, "bybit", True)]),
    (f"const ex = new ccxt.kucoin({{\n  apiKey: '{KK}',\n  secret: '{KS}',\n"
     f"  password: 'pw12345678',\n}})", [(1, "kucoin", True)]),
    (f"BINANCE_API_KEY={BK}\nBINANCE_API_SECRET={BS}\n", [(0, "binance", True)]),
    (f"{BK}:{BS}\n{YK} {YS}\n", [(0, "binance", True), (1, "bybit", True)]),
    (f"okx | {KK} | {KS} | pass1234\n", [(0, "okx", True)]),  # the line's label wins
    ("just chatter about keys and secrets, nothing here\n", []),
    (f"apiKey: your_api_key\nsecret: {'x' * 30}\n", []),
])
def test_text(text: str, expected: list[tuple[int, str, bool]]) -> None:
    assert [(n, f.exchange, f.secret is not None) for n, f in from_text(text)] == expected


def test_loose_text_lines_take_unshaped_pairs() -> None:
    a, b = pick(AN, 20), pick(AN, 30)
    assert from_text(f"{a}:{b}\n") == []
    assert [f.exchange for _, f in from_text(f"{a}:{b}\n", loose=True)] == ["unknown"]


def test_pem_secret_of_coinbase() -> None:
    key = "organizations/{0}/apiKeys/{0}".format(KS)
    body = "\\n".join(pick(AN + "+/", 64) for _ in range(3))
    pem = f"-----BEGIN EC PRIVATE KEY-----\\n{body}\\n-----END EC PRIVATE KEY-----\\n"
    (n, f), = from_text(f'{{"name": "{key}", "privateKey": "{pem}"}}')
    assert f.exchange == "coinbase" and f.secret is not None and "PRIVATE KEY" in f.secret


def test_record_with_fields_and_text_finds_each_once() -> None:
    rec = Record(3, [("key", BK), ("secret", BS)], text=f"{BK}:{BS}\n{YK}:{YS}\n")
    assert [(n, f.exchange) for n, f in extract(rec)] == [(0, "binance"), (1, "bybit")]


def test_table_plan_matches_from_fields() -> None:
    header = ["id", "Exchange", "API Key", "Secret", "Passphrase"]
    plan = TablePlan(header)
    assert plan.simple
    for row in (["1", "binance", BK, BS, ""], ["2", "", YS, YK, ""], ["3", "kucoin", KK, KS,
                                                                       "pw"]):
        assert plan.found(row) == from_fields(list(zip(header, row)))[0]
    assert not TablePlan(["BINANCE_KEY", "BINANCE_SECRET", "OKX_KEY"]).simple
