"""Account data through ccxt: balances, orders, trades, deposits, withdrawals and candles.

ccxt runs unmodified. Its requests go through a requests Session whose response hook keeps
every raw answer (a `Recorder`), so a snapshot holds the exact bytes each figure came from.
With `base_url` (the simulator, a testnet) every entry of `urls['api']` is pointed there,
keeping its path: an entry left alone would still reach production.

ccxt's errors become ours: authentication errors at once; rate limits wait for Retry-After;
timeouts, 5xx and connection errors are retried with backoff, then ExchangeError. ccxt's
messages quote response bodies and URLs, so only the error's type and the call are shown.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from incident.exchanges.http import Recorder, retry_after
from incident.exchanges.interface import (Credential, ExchangeAuthError, ExchangeError,
                                          KeyRevoked, PermissionDenied, RateLimited)

T = TypeVar("T")

# Per exchange: ccxt options that keep it to spot and off endpoints a snapshot never needs.
OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False,
                "fetchCurrencies": False, "warnOnFetchOpenOrdersWithoutSymbol": False},
    "bybit": {"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot"},
    "okx": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
    "kucoin": {"fetchCurrencies": False},
    "gate": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
    "kraken": {"fetchCurrencies": False},
    "coinbase": {"fetchCurrencies": False},
}

# ccxt logs request headers (API keys among them) at DEBUG: keep its loggers above that.
logging.getLogger("ccxt").setLevel(logging.WARNING)


def rewrite_urls(urls: Any, origin: str, hostname: str | None) -> Any:
    """Every URL in ccxt's `urls['api']` (nested dicts of strings) with its scheme and host
    replaced by `origin`; `{hostname}` templates are filled in first."""
    if isinstance(urls, dict):
        return {k: rewrite_urls(v, origin, hostname) for k, v in urls.items()}
    if isinstance(urls, str):
        url = urls.replace("{hostname}", hostname or "")
        parts = urlsplit(url)
        return origin.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


def build(exchange_id: str, cred: Credential | None, recorder: Recorder, *,
          base_url: str | None = None, timeout: float = 15.0) -> Any:
    """A ccxt exchange for `exchange_id`, its answers recorded, pointed at `base_url`."""
    import ccxt

    session = requests.Session()
    session.hooks["response"].append(recorder.hook)
    config: dict[str, Any] = {
        "session": session,
        "timeout": int(timeout * 1000),
        # ccxt's own throttle for real exchanges; a simulator or testnet answers 429 itself
        "enableRateLimit": base_url is None,
        "options": dict(OPTIONS.get(exchange_id, {})),
    }
    if cred is not None:
        config["apiKey"] = cred.key.reveal()
        if cred.secret is not None:
            config["secret"] = cred.secret.reveal()
        if cred.passphrase is not None:
            config["password"] = cred.passphrase.reveal()
    exchange = getattr(ccxt, exchange_id)(config)
    if base_url is not None:
        hostname = getattr(exchange, "hostname", None)
        exchange.urls["api"] = rewrite_urls(exchange.urls["api"], base_url, hostname)
        if hostname:
            exchange.hostname = urlsplit(base_url).netloc
    return exchange


@contextmanager
def connected(exchange_id: str, cred: Credential | None, recorder: Recorder, *,
              base_url: str | None = None, timeout: float = 15.0) -> Iterator[Any]:
    """`build`, and the credential wiped from the ccxt object on the way out."""
    exchange = build(exchange_id, cred, recorder, base_url=base_url, timeout=timeout)
    try:
        yield exchange
    finally:
        exchange.apiKey = exchange.secret = exchange.password = ""
        exchange.session.close()


class Retrying:
    """Calls into ccxt with our retry rules; `what` names the call in errors."""

    def __init__(self, exchange_id: str, *, attempts: int = 4,
                 backoff: float = 0.5, max_wait: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.exchange_id = exchange_id
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self.calls = 0

    def __call__(self, what: str, fn: Callable[[], T], last_headers: Callable[[], Any]) -> T:
        import ccxt

        failures = 0
        waited = 0.0
        while True:
            self.calls += 1
            try:
                return fn()
            except ccxt.PermissionDenied:  # (a kind of AuthenticationError in ccxt)
                raise PermissionDenied("the key lacks the permission for this",
                                       exchange=self.exchange_id, endpoint=what) from None
            except ccxt.AuthenticationError:
                raise KeyRevoked("the exchange refused the key (it may have been revoked)",
                                 exchange=self.exchange_id, endpoint=what) from None
            except ccxt.InvalidNonce:
                raise ExchangeAuthError("the request's timestamp was refused: check this "
                                        "machine's clock", exchange=self.exchange_id,
                                        endpoint=what) from None
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection):
                wait = max(0.2, retry_after(dict(last_headers() or {}),
                                            self._delay(failures + 1)))
                waited += wait
                if waited > self.max_wait:
                    raise RateLimited(f"rate limited for more than {self.max_wait:.0f} s",
                                      exchange=self.exchange_id, endpoint=what) from None
                self._sleep(wait)
            except (ccxt.OperationFailed, requests.RequestException) as e:  # retryable kinds
                failures += 1
                if failures >= self.attempts:
                    raise ExchangeError(f"{type(e).__name__} after {failures} attempts",
                                        exchange=self.exchange_id, endpoint=what) from None
                self._sleep(self._delay(failures))
            except ccxt.BaseError as e:
                raise ExchangeError(f"failed ({type(e).__name__})", exchange=self.exchange_id,
                                    endpoint=what) from None

    def _delay(self, failures: int) -> float:
        return float(self.backoff * 2 ** (failures - 1) * (0.75 + random.random() / 2))
