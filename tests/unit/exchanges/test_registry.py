"""Every registered connector resolves, is complete, and names a known exchange."""

from __future__ import annotations

import pytest

from incident.errors import UsageError
from incident.exchanges import BASE_URLS, CONNECTORS, connect, connector_class
from incident.exchanges.http import Recorder
from incident.exchanges.interface import Connector
from incident.exchanges.names import EXCHANGES


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_every_connector_resolves_and_is_complete(name: str) -> None:
    cls = connector_class(name)
    assert issubclass(cls, Connector) and cls.name == name and name in EXCHANGES
    assert cls.api_management_url.startswith("https://")
    assert cls.manual_revoke and all(step.text for step in cls.manual_revoke)
    assert name in BASE_URLS and BASE_URLS[name].startswith("https://")
    conn = connect(name, Recorder(), base_url="http://127.0.0.1:9")
    assert conn.http.base_url == "http://127.0.0.1:9"


def test_the_required_exchanges_are_there() -> None:
    assert set(CONNECTORS) >= {"binance", "bybit", "kucoin", "okx", "coinbase", "kraken",
                               "gate"}


def test_an_exchange_without_connector_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no connector for 'bitmex'; connectors: binance"):
        connector_class("bitmex")
