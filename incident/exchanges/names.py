"""The exchange names the registry accepts, with the spellings people and dumps use."""

from __future__ import annotations

import difflib

from incident.errors import Place, UnknownExchange

# ccxt id -> display name
EXCHANGES: dict[str, str] = {
    "binance": "Binance",
    "binanceus": "Binance.US",
    "bitfinex": "Bitfinex",
    "bitget": "Bitget",
    "bitmex": "BitMEX",
    "bitstamp": "Bitstamp",
    "bybit": "Bybit",
    "coinbase": "Coinbase",
    "cryptocom": "Crypto.com",
    "deribit": "Deribit",
    "gate": "Gate",
    "gemini": "Gemini",
    "htx": "HTX",
    "kraken": "Kraken",
    "kucoin": "KuCoin",
    "mexc": "MEXC",
    "okx": "OKX",
}

# Other spellings -> ccxt id. Matching is case-insensitive and ignores spaces, dots,
# dashes and underscores, so "Gate.io", "gate_io" and "GATEIO" all resolve.
ALIASES: dict[str, str] = {
    "gateio": "gate",
    "huobi": "htx",
    "huobipro": "htx",
    "okex": "okx",
    "coinbasepro": "coinbase",
    "coinbaseadvanced": "coinbase",
    "gdax": "coinbase",
    "kucoinspot": "kucoin",
    "binancecom": "binance",
    "binancespot": "binance",
    "binanceusa": "binanceus",
    "cryptocomexchange": "cryptocom",
}

_FOLD = str.maketrans("", "", " ._-")


def lookup(name: str) -> str | None:
    """The ccxt id for a spelling, or None."""
    folded = name.strip().lower().translate(_FOLD)
    if folded in EXCHANGES:
        return folded
    return ALIASES.get(folded)


def resolve(name: str, place: Place | None = None) -> str:
    """The ccxt id for a spelling, or UnknownExchange naming the known ones."""
    found = lookup(name)
    if found is None:
        # The cell may hold key material (shifted columns, a word passphrase): echo it
        # only when it is a near miss of a known name, a typo worth showing.
        shown = name.strip()
        folded = shown.lower().translate(_FOLD)
        close = difflib.get_close_matches(folded, [*EXCHANGES, *ALIASES], n=1, cutoff=0.75)
        if close and len(shown) <= 24:
            hint = ALIASES.get(close[0], close[0])
            raise UnknownExchange(f"unknown exchange '{shown}' (did you mean {hint}?)", place)
        raise UnknownExchange(f"unknown exchange (value not shown); known: "
                              f"{', '.join(EXCHANGES)}", place)
    return found
