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


def test_a_near_miss_is_named_with_a_hint() -> None:
    with pytest.raises(UnknownExchange) as e:
        resolve("binanse")
    assert str(e.value) == "unknown exchange 'binanse' (did you mean binance?)"
    with pytest.raises(UnknownExchange, match=r"'Gate-oi' \(did you mean gate\?\)"):
        resolve("Gate-oi")


@pytest.mark.parametrize("cell", [
    "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",  # a key
    "Correct Horse Battery",  # a word passphrase
    "Tr0ub4dor",
])
def test_anything_else_is_never_echoed(cell: str) -> None:
    with pytest.raises(UnknownExchange) as e:
        resolve(cell)
    assert str(e.value).startswith("unknown exchange (value not shown); known: binance, ")
    assert cell[:6] not in str(e.value)
