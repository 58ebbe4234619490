"""Exchange connectors: one per exchange, one base class (`interface.Connector`).

`CONNECTORS` is the explicit registry of built-ins (ccxt id -> "module:Class"), imported on
first use so that commands which never touch an exchange never load one. The names in
`names.py` are every exchange the key registry accepts; those without a connector here can
still be matched and reported, and are revoked by hand.
"""

from __future__ import annotations

import importlib

from incident.errors import UsageError
from incident.exchanges.http import Http, Pacer, Recorder
from incident.exchanges.interface import Connector

CONNECTORS: dict[str, str] = {
    "binance": "incident.exchanges.binance:Binance",
    "bybit": "incident.exchanges.bybit:Bybit",
    "coinbase": "incident.exchanges.coinbase:Coinbase",
    "gate": "incident.exchanges.gate:Gate",
    "kraken": "incident.exchanges.kraken:Kraken",
    "kucoin": "incident.exchanges.kucoin:KuCoin",
    "okx": "incident.exchanges.okx:OKX",
}

# Where each exchange's REST API lives, unless --base-url says otherwise.
BASE_URLS: dict[str, str] = {
    "binance": "https://api.binance.com",
    "bybit": "https://api.bybit.com",
    "coinbase": "https://api.coinbase.com",
    "gate": "https://api.gateio.ws",
    "kraken": "https://api.kraken.com",
    "kucoin": "https://api.kucoin.com",
    "okx": "https://www.okx.com",
}


def connector_class(exchange: str) -> type[Connector]:
    target = CONNECTORS.get(exchange)
    if target is None:
        raise UsageError(f"no connector for '{exchange}'; connectors: {', '.join(CONNECTORS)}")
    module, _, name = target.partition(":")
    cls: type[Connector] = getattr(importlib.import_module(module), name)
    return cls


def connect(exchange: str, recorder: Recorder, *, base_url: str | None = None,
            timeout: float = 10.0, pacer: Pacer | None = None) -> Connector:
    """The connector for `exchange`, its calls recorded, pointed at `base_url`; `pacer`
    shared across a bulk run."""
    cls = connector_class(exchange)
    url = base_url or BASE_URLS[exchange]
    return cls(Http(exchange, url, recorder=recorder, timeout=timeout, pacer=pacer), base_url)
