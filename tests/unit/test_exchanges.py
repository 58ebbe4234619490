from __future__ import annotations

import pytest

from incident.errors import UnknownExchange
from incident.exchanges.names import ALIASES, EXCHANGES, lookup, resolve


@pytest.mark.parametrize("name, expected", [
    ("binance", "binance"), ("Binance", "binance"), (" BINANCE ", "binance"),
    ("Gate.io", "gate"), ("gate_io", "gate"), ("gateio", "gate"),
    ("OKEx", "okx"), ("Huobi", "htx"), ("huobi-pro", "htx"), ("Coinbase Pro", "coinbase"),
    ("KuCoin", "kucoin"), ("crypto.com", "cryptocom"),
    ("binanse", None), ("", None),
])
def test_lookup(name: str, expected: str | None) -> None:
    assert lookup(name) == expected


def test_every_alias_names_a_known_exchange() -> None:
    assert set(ALIASES.values()) <= set(EXCHANGES)


def test_unknown_exchange_names_a_plain_name_and_lists_the_known() -> None:
    with pytest.raises(UnknownExchange) as e:
        resolve("binanse")
    assert "unknown exchange 'binanse'; known: binance, binanceus" in str(e.value)


def test_unknown_exchange_never_echoes_what_may_be_a_key() -> None:
    key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    with pytest.raises(UnknownExchange) as e:
        resolve(key)
    assert "(value not shown)" in str(e.value)
    assert key[:12] not in str(e.value)
