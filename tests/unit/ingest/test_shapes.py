from __future__ import annotations

import random
import string
import uuid

import pytest

from incident.exchanges.names import EXCHANGES
from incident.ingest.shapes import (BY_EXCHANGE, SHAPES, Match, classify, entropy_bits,
                                    is_placeholder, key_exchanges)

rng = random.Random(2022)
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"


def pick(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def uid() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def pem() -> str:
    body = pick(B64, 64) + "\n" + pick(B64, 64) + "\n" + pick(B64, 32) + "=="
    return f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n"


def htx() -> str:
    return "-".join(pick("0123456789abcdef", n) for n in (8, 8, 8, 5))


# (exchange, key, secret): random values in each exchange's own shape.
CREDENTIALS = [
    ("binance", pick(ALNUM, 64), pick(ALNUM, 64)),
    ("kucoin", pick("0123456789abcdef", 24), uid()),
    ("okx", uid(), pick("0123456789ABCDEF", 32)),
    ("bybit", pick(ALNUM, 18), pick(ALNUM, 36)),
    ("kraken", pick(B64, 56), pick(B64, 86) + "=="),
    ("gate", pick("0123456789abcdef", 32), pick("0123456789abcdef", 64)),
    ("bitget", "bg_" + pick("0123456789abcdef", 32), pick("0123456789abcdef", 64)),
    ("htx", htx(), htx()),
    ("mexc", "mx0" + pick(ALNUM, 15), pick("0123456789abcdef", 32)),
    ("bitfinex", pick(ALNUM, 43), pick(ALNUM, 43)),
    ("coinbase", f"organizations/{uid()}/apiKeys/{uid()}", pem()),
]


def test_the_table_covers_the_issue_and_names_known_exchanges() -> None:
    assert {s.exchange for s in SHAPES} == {c[0] for c in CREDENTIALS}
    assert set(BY_EXCHANGE) <= set(EXCHANGES)
    assert {e for e, s in BY_EXCHANGE.items() if s.passphrase} == {"kucoin", "okx", "bitget"}


@pytest.mark.parametrize("exchange, key, secret", CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
def test_a_pair_is_classified_as_its_exchange_either_way_round(exchange: str, key: str,
                                                               secret: str) -> None:
    assert classify(key, secret) == Match(exchange, swapped=False)
    # Where key and secret share a shape (Binance 64/64), the order cannot be told.
    symmetric = BY_EXCHANGE[exchange].fits(secret, key)
    assert classify(secret, key) == Match(exchange, swapped=not symmetric)
    assert classify(f'  "{key}"\n', secret) == Match(exchange, swapped=False)
    assert exchange in key_exchanges(key)


def test_a_pem_secret_with_literal_newlines_or_crlf_still_fits() -> None:
    key, secret = CREDENTIALS[-1][1], CREDENTIALS[-1][2]
    assert classify(key, secret.replace("\n", "\\n")) == Match("coinbase", swapped=False)
    assert classify(key, secret.replace("\n", "\r\n")) == Match("coinbase", swapped=False)


@pytest.mark.parametrize("key, secret", [
    (pick(ALNUM, 63), pick(ALNUM, 64)),          # one short
    (pick(ALNUM, 64), pick(ALNUM, 10)),
    ("bg_" + pick("0123456789abcdef", 31), pick("0123456789abcdef", 64)),
    ("hello world", "not a secret"),
])
def test_what_fits_no_shape(key: str, secret: str) -> None:
    assert classify(key, secret) is None


@pytest.mark.parametrize("value", [
    "your_api_key", "YOUR_API_KEY_HERE", "xxxxxxxxxxxxxxxxxxxxxxxx", "changeme", "changeme123",
    "<API_KEY>", "${BINANCE_API_KEY}", "{{ api_secret }}", "********", "abc...xyz",
    "api-key-goes-here", "test", "null", "", "a" * 64, "1234567890abcdef" * 2,
    "ab" * 32, "INSERT_SECRET_KEY_HERE", "paste-your-passphrase", "REDACTED",
])
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("exchange, key, secret", CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
def test_real_shaped_values_are_never_placeholders(exchange: str, key: str, secret: str) -> None:
    assert not is_placeholder(key) and not is_placeholder(secret)


def test_words_that_occur_by_chance_do_not_make_a_placeholder() -> None:
    key = pick(ALNUM, 20) + "testhere" + pick(ALNUM, 36)
    assert not is_placeholder(key)
    unshaped = pick(ALNUM, 17) + "none" + pick(ALNUM, 19)  # 40 characters, no shape
    assert not is_placeholder(unshaped)


def test_random_values_are_kept_at_scale() -> None:
    """No random credential of any length from 12 to 100 is taken for a placeholder."""
    lost = [v for v in (pick(ALNUM, rng.randint(12, 100)) for _ in range(50_000))
            if is_placeholder(v)]
    assert lost == []


def test_entropy() -> None:
    assert entropy_bits("") == 0 and entropy_bits("aaaa") == 0
    assert entropy_bits("abcd") == 2.0


def test_every_sample_key_fits_its_exchange() -> None:
    import csv

    from tests.conftest import ROOT

    with open(ROOT / "sample_dumps" / "registry" / "platform_users.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    for row in rows:
        match = classify(row["api_key"], row["api_secret"])
        assert match is not None and match.exchange == row["exchange"], row["label"]
        assert not is_placeholder(row["api_key"]) and not is_placeholder(row["api_secret"])
